{#- unique_key: key values (one or several columns together) that occur on more
    than one row. -#}
{% test unique_key(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
