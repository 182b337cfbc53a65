{#- first_changed_ts: per (symbol, bar_size), the first timestamp from which
    the rows a model computes (`computed`, a CTE or relation) differ from the
    rows its table (`stored`) holds, the table's `numbering` columns left out
    (the rest must be `computed`'s columns in the same order). Rows are
    compared a UTC day at a time, by each day's row count and the sum of its
    rows' hashes: two scans that group, instead of a join of every row. A
    series whose days all match is absent; a new series starts at its first
    row. Every row before a series' timestamp is unchanged, the numbering of
    the rows included: the incremental build rewrites the series from there. -#}
{% macro first_changed_ts(computed, stored, numbering=[]) %}
    {{ return(adapter.dispatch('first_changed_ts', 'alphaduck')(computed, stored, numbering)) }}
{% endmacro %}

{% macro default__first_changed_ts(computed, stored, numbering) %}
    {#- (incremental tables are DuckDB's: on Spark every model is a table) #}
    {{ exceptions.raise_compiler_error(
        "first_changed_ts: incremental tables are built on DuckDB only, not on "
        ~ target.type
    ) }}
{% endmacro %}

{% macro duckdb__first_changed_ts(computed, stored, numbering) %}
    with stored_rows as (
        select *
        {%- if numbering %} exclude ({{ numbering | join(', ') }}){% endif %}
        from {{ stored }}
    ),

    computed_days as (
        select
            symbol,
            bar_size,
            floor(epoch(ts) / 86400) as utc_day,
            min(ts) as day_start,
            count(*) as day_rows,
            sum(hash(r)) as day_hash
        from {{ computed }} as r
        group by 1, 2, 3
    ),

    stored_days as (
        select
            symbol,
            bar_size,
            floor(epoch(ts) / 86400) as utc_day,
            count(*) as day_rows,
            sum(hash(r)) as day_hash
        from stored_rows as r
        group by 1, 2, 3
    )

    -- (a day only the table has is a vanished bar: rebuild_tables_with_vanished_bars
    -- has rebuilt the table before this runs)
    select
        c.symbol,
        c.bar_size,
        min(c.day_start) as from_ts
    from computed_days as c
    left join stored_days as s
        on
            c.symbol = s.symbol
            and c.bar_size = s.bar_size
            and c.utc_day = s.utc_day
    where
        s.day_rows is distinct from c.day_rows
        or s.day_hash is distinct from c.day_hash
    group by c.symbol, c.bar_size
{% endmacro %}
