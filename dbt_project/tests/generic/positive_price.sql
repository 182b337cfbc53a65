{#- positive_price: rows whose price is zero, negative, NaN, infinite or null, in
    column_name (a column's test) or in any of ``columns`` (a model's test: one
    query for several prices), the first bad column named in failing_column.
    (NaN sorts above every number in DuckDB, so `price > 0` alone would let it
    through.) -#}
{% test positive_price(model, column_name=none, columns=none) %}

{%- set checks = [] %}
{%- for price in checked_columns('positive_price', model, column_name, columns) %}
    {%- do checks.append([price, price ~ ' is null or ' ~ is_nan(price) ~ ' or ' ~ is_infinite(price)
                                 ~ ' or ' ~ price ~ ' <= 0']) %}
{%- endfor %}
{{ rows_failing_a_check(model, checks) }}

{% endtest %}
