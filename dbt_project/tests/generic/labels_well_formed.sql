{#- Rows whose labels break their definitions, for every horizon in var label_horizons (the
    columns follow the var, so per-column tests in YAML would name columns a build may not
    have): a direction is 0 or 1 and only where the return is a non-zero number, a
    cross-sectional rank lies in [0, 1]. -#}
{% test labels_well_formed(model) %}

{%- set checks = [] %}
{%- for h in label_horizons() %}
    {%- do checks.append("select '" ~ h ~ "' as horizon, 'label_direction_" ~ h ~ " not 0/1' as failure, symbol, bar_size, ts from "
        ~ model ~ " where label_direction_" ~ h ~ " not in (0, 1)") %}
    {%- do checks.append("select '" ~ h ~ "', 'label_direction_" ~ h ~ " without a non-zero label_fwd_return_" ~ h ~ "', symbol, bar_size, ts from "
        ~ model ~ " where label_direction_" ~ h ~ " is not null and coalesce(label_fwd_return_" ~ h ~ ", 0) = 0") %}
    {%- do checks.append("select '" ~ h ~ "', 'label_xs_rank_" ~ h ~ " outside [0, 1]', symbol, bar_size, ts from "
        ~ model ~ " where label_xs_rank_" ~ h ~ " < 0 or label_xs_rank_" ~ h ~ " > 1 or isnan(label_xs_rank_" ~ h ~ ")") %}
{%- endfor %}
{{ checks | join('\nunion all\n') }}

{% endtest %}
