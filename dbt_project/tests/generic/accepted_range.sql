{#- Rows where the column falls outside [min_value, max_value] (or is NaN); tolerance widens
    the range for values that land a rounding error past a bound (100.00000000000001). Nulls pass:
    pair with not_null where a value is required. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, tolerance=0, where_clause=none) %}

select *
from {{ model }}
where {{ column_name }} is not null
  and (
      isnan({{ column_name }})
      {%- if min_value is not none %} or {{ column_name }} < {{ min_value }} - {{ tolerance }}{% endif %}
      {%- if max_value is not none %} or {{ column_name }} > {{ max_value }} + {{ tolerance }}{% endif %}
  )
  {%- if where_clause %} and ({{ where_clause }}){% endif %}

{% endtest %}
