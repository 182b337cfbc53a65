{#- Incremental refresh that stays exact.

    marts.fct_features is the one incremental feature table; the intermediate models that
    feed it are ephemeral (CTEs inside its build), except int_smoothing, an incremental
    table of its own because three models share its recursion. A model reads its bars
    through bars_to_compute() and keeps only rows that pass rows_to_write(). In a full
    build both are "everything". In an incremental build, per (symbol, bar_size):
      resume_seq   the first bar ingested after the newest bar the state table has seen (a
                   new bar, a corrected / back-filled one, or one a new corporate action
                   adjusts: the ingester stamps only what changed);
      computed     from `incremental_lookback_bars` before it, widened to the open of the
                   session before that bar's, so rolling windows, session VWAP, the session
                   gap and recursive indicators see the same history a full build gives them
                   (recursive ones within (1 - alpha)^1000);
      written      from the first timestamp at or after resume_seq - label_lookahead_bars()
                   of any series of the bar size (labels of the last bars change when their
                   future bars arrive, and cross-sectional labels rank every symbol at a
                   timestamp): every series of that bar size is rewritten from there.
    Series that end before that timestamp are not read at all. -#}

{#- The table that says what has been computed already, or none when this build computes
    everything: an incremental model's own table, or for an ephemeral intermediate the
    feature table it feeds. -#}
{% macro feature_state() %}
    {#- (a unit test runs a model under another materialization: it takes the first branch) -#}
    {%- if config.get('materialized') != 'ephemeral' -%}
        {{ return(this if is_incremental() and not feature_vars_changed() else none) }}
    {%- endif -%}
    {%- if not execute or not incremental_features() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=target.database, schema='marts', identifier='fct_features')) }}
{% endmacro %}

{#- Whether this build appends to marts.fct_features (it exists, no --full-refresh, and the
    feature-defining vars are those it was built with). A macro of its own so that a unit
    test of an ephemeral model can override it. -#}
{% macro incremental_features() %}
    {%- if flags.FULL_REFRESH -%}{{ return(false) }}{%- endif -%}
    {%- set table = adapter.get_relation(database=target.database, schema='marts', identifier='fct_features') -%}
    {{ return(table is not none and not feature_vars_changed()) }}
{% endmacro %}

{% macro bars_to_compute(bars) %}
{%- set state = feature_state() %}
{%- if state is not none %}
    with seen as (
        select symbol, bar_size, max(ingested_at) as seen_until
        from {{ state }}
        group by symbol, bar_size
    ),
    resume as (
        select b.symbol, b.bar_size, min(b.bar_seq) as resume_seq
        from {{ bars }} as b
        left join seen as s on s.symbol = b.symbol and s.bar_size = b.bar_size
        where s.seen_until is null or b.ingested_at > s.seen_until
        group by b.symbol, b.bar_size
    ),
    rewrite_from as (
        -- per bar size, the first timestamp whose rows change: a series' first new bar less
        -- the bars its labels look ahead. Every series is rewritten from there, so the
        -- cross-sectional labels at those timestamps rank every symbol, not only the new ones.
        select r.bar_size, min(a.ts) as from_ts
        from resume as r
        join {{ bars }} as a
            on a.symbol = r.symbol and a.bar_size = r.bar_size
            and a.bar_seq = greatest(r.resume_seq - {{ label_lookahead_bars() }}, 0)
        group by r.bar_size
    ),
    series_write as (
        select b.symbol, b.bar_size, min(b.bar_seq) as write_from_seq
        from {{ bars }} as b
        join rewrite_from as f on f.bar_size = b.bar_size and b.ts >= f.from_ts
        group by b.symbol, b.bar_size
    ),
    window_start as (
        -- the open of the session before the lookback's first bar: the session gap needs
        -- the previous session's close
        select w.symbol, w.bar_size, w.write_from_seq, coalesce(p.session_start_seq, 0) as start_seq
        from series_write as w
        join {{ bars }} as a
            on a.symbol = w.symbol and a.bar_size = w.bar_size
            and a.bar_seq = greatest(w.write_from_seq - {{ var('incremental_lookback_bars') }}, 0)
        left join {{ bars }} as p
            on p.symbol = a.symbol and p.bar_size = a.bar_size and p.bar_seq = a.session_start_seq - 1
    )
    select b.*, w.write_from_seq
    from {{ bars }} as b
    join window_start as w on w.symbol = b.symbol and w.bar_size = b.bar_size
    where b.bar_seq >= w.start_seq
{%- else %}
    select *, 0 as write_from_seq from {{ bars }}
{%- endif %}
{% endmacro %}

{#- Filter the rows a model writes. Window functions see only rows that pass WHERE, so apply
    it after them: in a select over a CTE that computed every window, not in the same select.
    relation: the name the bars go by where other inputs have a bar_seq too. -#}
{% macro rows_to_write(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    where {{ prefix }}bar_seq >= {{ prefix }}write_from_seq
{%- endmacro %}

{#- Every column of a relation but the bookkeeping one bars_to_compute() adds. -#}
{% macro feature_columns() -%}
    {{ return(adapter.dispatch('feature_columns')()) }}
{%- endmacro %}

{% macro default__feature_columns() -%}
    * except (write_from_seq)
{%- endmacro %}

{% macro duckdb__feature_columns() -%}
    * exclude (write_from_seq)
{%- endmacro %}
