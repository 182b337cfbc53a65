{#- Models land in the schema their layer names (staging, intermediate, marts),
    not "<target schema>_<layer>": analysts query marts.fct_features, as
    DESIGN.md says. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
