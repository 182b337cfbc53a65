{#- ohlc_consistent: bars whose high is below the open or close, or whose low is
    above them. -#}
{% test ohlc_consistent(
    model, open='open', high='high', low='low', close='close'
) %}

select *
from {{ model }}
where
    {{ high }} < greatest({{ open }}, {{ close }})
    or {{ low }} > least({{ open }}, {{ close }})
    or {{ high }} < {{ low }}

{% endtest %}
