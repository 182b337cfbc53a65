{#- dx_from_sums: the directional index from Wilder sums of +DM, -DM and the
    true range,
        DX = 100 |+DI - -DI| / (+DI + -DI),   DI = 100 DM sum / true-range sum;
    null when the true-range sum or the sum of the two DIs is zero. -#}
{% macro dx_from_sums(plus_dm, minus_dm, tr) -%}
    {{ return(adapter.dispatch('dx_from_sums', 'alphaduck')(
        plus_dm, minus_dm, tr
    )) }}
{%- endmacro %}

{% macro default__dx_from_sums(plus_dm, minus_dm, tr) -%}
    {%- set minus_di -%}
        (100.0 * (({{ minus_dm }}) / nullif({{ tr }}, 0)))
    {%- endset -%}
    {%- set plus_di -%}
        (100.0 * (({{ plus_dm }}) / nullif({{ tr }}, 0)))
    {%- endset -%}
    (100.0 * (
        abs({{ minus_di }} - {{ plus_di }})
        / nullif({{ minus_di }} + {{ plus_di }}, 0)
    ))
{%- endmacro %}
