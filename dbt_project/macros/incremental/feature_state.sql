{#- feature_state: the table that says what has been computed already, or none
    when this build computes everything: an incremental model's own table, or,
    for an ephemeral intermediate, the feature table it feeds.

    Incremental refresh that stays exact: marts.fct_features is the one
    incremental feature table; the intermediate models that feed it are
    ephemeral (CTEs inside its build), except int_smoothing, an incremental
    table of its own because three models share its recursion. A model reads its
    bars through bars_to_compute() and keeps only rows that pass
    rows_to_write(). In a full build both are "everything". In an incremental
    build, per (symbol, bar_size):
      resume_seq  the first bar ingested after the newest bar the state table
                  has seen (a new bar, a corrected / back-filled one, or one a
                  new corporate action adjusts: the ingester stamps only what
                  changed);
      computed    from `incremental_lookback_bars` before it, widened to the
                  open of the session before that bar's, so rolling windows,
                  session VWAP, the session gap and recursive indicators see
                  the same history a full build gives them (recursive ones
                  within (1 - alpha)^1000);
      written     from the first timestamp at or after
                  resume_seq - label_lookahead_bars() of any series of the bar
                  size (labels of the last bars change when their future bars
                  arrive, and cross-sectional labels rank every symbol at a
                  timestamp): every series of that bar size is rewritten from
                  there.
    Series that end before that timestamp are not read at all. -#}
{% macro feature_state() %}
    {#- (a unit test runs a model as another materialization: this branch) -#}
    {%- if config.get('materialized') != 'ephemeral' -%}
        {{ return(
            this if is_incremental() and not feature_vars_changed() else none
        ) }}
    {%- endif -%}
    {%- if not execute or not incremental_features() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=target.database, schema='marts', identifier='fct_features'
    )) }}
{% endmacro %}
