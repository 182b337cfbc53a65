{#- on-run-start: an incremental table of bars or features (stg_bars,
    int_bars, int_smoothing, marts.fct_features) that holds a bar raw.bars no
    longer has is dropped, so this build creates it anew, in full. Bars vanish
    when a series is replaced (`alphaduck ingest ibkr --replace`). An
    incremental build only adds and rewrites rows: it would keep the vanished
    bars, their features, and the labels and cross-sectional ranks computed
    with them. The check groups the table's keys and raw.bars' per series and
    anti-joins only the series whose keys differ up to the table's last bar
    (on 5M bars, 0.6 s a table for a whole anti-join); it is skipped when the
    build is a full refresh anyway. -#}
{% macro rebuild_tables_with_vanished_bars() %}
    {%- set dropped = [] %}
    {%- if execute and not flags.FULL_REFRESH %}
        {%- set bars = adapter.get_relation(
            database=target.database, schema='raw', identifier='bars'
        ) %}
        {%- for name in ['stg_bars', 'int_bars', 'int_smoothing', 'fct_features'] %}
            {%- set node_id = 'model.' ~ project_name ~ '.' ~ name %}
            {%- set node = graph.nodes.get(node_id) %}
            {%- set table = adapter.get_relation(
                database=target.database, schema=node.schema,
                identifier=node.alias
            ) if node and node_id in selected_resources
                and node.config.materialized == 'incremental'
                and bars is not none else none %}
            {%- if table is not none %}
                {%- set query %}
                    -- a series whose keys equal raw.bars' up to its last bar in
                    -- the table (count and sum of hashes: an appended session)
                    -- has none vanished; only the others are anti-joined
                    with held as (
                        select symbol, bar_size, max(ts) as last_ts,
                            count(*) as n, sum(hash(ts)) as ts_hash
                        from {{ table }}
                        group by 1, 2
                    ),

                    raw_up_to as (
                        select b.symbol, b.bar_size,
                            count(*) as n, sum(hash(b.ts)) as ts_hash
                        from {{ bars }} as b
                        inner join held as h
                            on b.symbol = h.symbol and b.bar_size = h.bar_size
                            and b.ts <= h.last_ts
                        group by 1, 2
                    ),

                    suspect as (
                        select h.symbol, h.bar_size
                        from held as h
                        left join raw_up_to as r
                            on h.symbol = r.symbol and h.bar_size = r.bar_size
                        where r.n is distinct from h.n
                            or r.ts_hash is distinct from h.ts_hash
                    )

                    select count(*)
                    from {{ table }} as t
                    inner join suspect as s
                        on t.symbol = s.symbol and t.bar_size = s.bar_size
                    where not exists (
                        select 1 from {{ bars }} as b
                        where b.symbol = t.symbol and b.bar_size = t.bar_size
                            and b.ts = t.ts
                    )
                {%- endset %}
                {%- set vanished = run_query(query).columns[0].values()[0] %}
                {%- if vanished > 0 %}
                    {%- do rebuild_in_full(
                        table,
                        table ~ " holds " ~ vanished ~ " bars raw.bars no"
                        ~ " longer has (a replaced series)"
                    ) %}
                    {%- do dropped.append(name) %}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {#- (rebuild_in_full: a hook that drops ends with commit) #}
    {{ 'commit' if dropped else 'select 1' }}
{% endmacro %}
