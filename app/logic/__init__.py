"""The pages' plain logic, one module per page of ``app/views/`` (data, graph, train, explore,
counterfactuals, runs): what each page computes and checks, without streamlit."""
