{#- checked_columns: the columns a generic test checks, given at the column
    (column_name) or at the model (columns); a compile error names the test
    when neither is. -#}
{% macro checked_columns(test, model, column_name=none, columns=none) %}
    {%- set checked = columns if columns is not none else [column_name] %}
    {%- if not checked or checked[0] is none %}
        {{ exceptions.raise_compiler_error(test ~ " on " ~ model ~ ": give a column or columns") }}
    {%- endif %}
    {{- return(checked) }}
{% endmacro %}
