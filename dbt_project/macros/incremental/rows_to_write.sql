{#- rows_to_write: the filter on the rows a model writes (see feature_state).
    Window functions see only rows that pass WHERE, so apply it after them: in a
    select over a CTE that computed every window, not in the same select.
    relation: the name the bars go by where other inputs have a bar_seq too. -#}
{% macro rows_to_write(relation=none) -%}
    {{ return(adapter.dispatch('rows_to_write', 'alphaduck')(relation)) }}
{%- endmacro %}

{% macro default__rows_to_write(relation) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    where {{ prefix }}bar_seq >= {{ prefix }}write_from_seq
{%- endmacro %}
