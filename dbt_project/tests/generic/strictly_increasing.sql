{#- strictly_increasing: rows whose column is not greater than the previous
    row's in the same series, series and order given by partition_by and
    order_by. -#}
{% test strictly_increasing(model, column_name, partition_by, order_by) %}

with

ordered as (

    select
        *,
        lag({{ column_name }}) over (
            partition by {{ partition_by }} order by {{ order_by }}
        ) as previous_value
    from {{ model }}

)

select *
from ordered
where
    previous_value is not null
    and {{ column_name }} <= previous_value

{% endtest %}
