{#- labels_well_formed: rows whose labels break their definitions, for every
    horizon in var label_horizons (or the horizons given): the columns follow
    the var, so per-column tests in YAML would name columns a build may not
    have. A direction is 0 or 1 and only where the return is a non-zero
    number; a cross-sectional rank lies in [0, 1]. -#}
{% test labels_well_formed(model, horizons=none) %}

{%- for h in horizons or label_horizons() %}

    {%- if not loop.first %}

    union all

    {%- endif %}

    select
        symbol,
        bar_size,
        ts,
        {{ h }} as horizon,
        'label_direction_{{ h }} not 0/1' as failure
    from {{ model }}
    where label_direction_{{ h }} not in (0, 1)

    union all

    select
        symbol,
        bar_size,
        ts,
        {{ h }} as horizon,
        'label_direction_{{ h }} without a non-zero label_fwd_return_{{ h }}'
            as failure
    from {{ model }}
    where
        label_direction_{{ h }} is not null
        and coalesce(label_fwd_return_{{ h }}, 0) = 0

    union all

    select
        symbol,
        bar_size,
        ts,
        {{ h }} as horizon,
        'label_xs_rank_{{ h }} outside [0, 1]' as failure
    from {{ model }}
    where
        label_xs_rank_{{ h }} < 0
        or label_xs_rank_{{ h }} > 1
        or {{ is_nan('label_xs_rank_' ~ h) }}

{%- endfor %}

{% endtest %}
