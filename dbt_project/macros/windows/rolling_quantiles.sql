{#- rolling_quantiles: the q-quantiles (linear interpolation, as numpy's
    default) of x over the last n bars, as a list in the order of qs; null until
    the series has n bars. DuckDB sorts each window once for all of them;
    Spark's percentile takes them all at once too; elsewhere each quantile is
    its own window. -#}
{% macro rolling_quantiles(x, qs, n) -%}
    {{ return(adapter.dispatch('rolling_quantiles', 'alphaduck')(x, qs, n)) }}
{%- endmacro %}

{% macro default__rolling_quantiles(x, qs, n) -%}
    array(
        {%- for q in qs %}
        {{ rolling(
            'percentile_cont(' ~ q ~ ') within group (order by ' ~ x ~ ')', n
        ) }}{{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro duckdb__rolling_quantiles(x, qs, n) -%}
    {{ rolling('quantile_cont(' ~ x ~ ', [' ~ qs | join(', ') ~ '])', n) }}
{%- endmacro %}

{% macro spark__rolling_quantiles(x, qs, n) -%}
    {{ rolling('percentile(' ~ x ~ ', array(' ~ qs | join(', ') ~ '))', n) }}
{%- endmacro %}
