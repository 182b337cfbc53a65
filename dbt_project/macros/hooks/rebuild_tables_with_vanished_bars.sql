{#- on-run-start: an incremental table of bars or features (stg_bars,
    int_bars, int_smoothing, marts.fct_features) that holds a bar raw.bars no longer has
    is dropped, so this build creates it anew, in full. Bars vanish when a
    series is replaced (`alphaduck ingest ibkr --replace`). An incremental
    build only adds and rewrites rows: it would keep the vanished bars, their
    features, and the labels and cross-sectional ranks computed with them. The check is one anti-join
    of the table's keys (~0.1 s per million rows), skipped when the build is a
    full refresh anyway. -#}
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
                {%- set vanished = run_query(
                    "select count(*) from " ~ table ~ " as t where not exists ("
                    ~ "select 1 from " ~ bars ~ " as b where b.symbol = t.symbol"
                    ~ " and b.bar_size = t.bar_size and b.ts = t.ts)"
                ).columns[0].values()[0] %}
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
