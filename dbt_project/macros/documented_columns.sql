{#- documented_columns: the columns a model's YAML documents, in order.
    Ephemeral models have no relation to ask, and every column is documented
    (tests/test_features.py checks it), so the YAML is the one list of what each
    intermediate model adds to fct_features. -#}
{% macro documented_columns(model_name) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.name == model_name -%}
        {{ return(node.columns.keys() | list) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        "documented_columns: no model named " ~ model_name
    ) }}
{%- endmacro %}
