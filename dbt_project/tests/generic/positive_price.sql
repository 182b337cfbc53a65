{#- positive_price: rows whose price is zero, negative, NaN or infinite. (NaN
    sorts above every number in DuckDB, so `price > 0` alone would let it
    through.) -#}
{% test positive_price(model, column_name) %}

select *
from {{ model }}
where
    {{ column_name }} is null
    or {{ is_nan(column_name) }}
    or {{ is_infinite(column_name) }}
    or {{ column_name }} <= 0

{% endtest %}
