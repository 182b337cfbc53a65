{#- bars_to_compute: the bars a model reads, with write_from_seq, the first
    bar_seq of each series it writes (see feature_state for the rules); every
    bar and 0 in a full build. -#}
{% macro bars_to_compute(bars) %}
    {{ return(adapter.dispatch('bars_to_compute', 'alphaduck')(bars)) }}
{% endmacro %}

{% macro default__bars_to_compute(bars) %}
{%- set state = feature_state() %}
{%- if state is not none %}
    with seen as (
        select
            symbol,
            bar_size,
            max(ingested_at) as seen_until
        from {{ state }}
        group by symbol, bar_size
    ),

    resume as (
        select
            b.symbol,
            b.bar_size,
            min(b.bar_seq) as resume_seq
        from {{ bars }} as b
        left join seen as s
            on s.symbol = b.symbol and s.bar_size = b.bar_size
        where s.seen_until is null or b.ingested_at > s.seen_until
        group by b.symbol, b.bar_size
    ),

    rewrite_from as (
        -- per bar size, the first timestamp whose rows change: a series'
        -- first new bar less the bars its labels look ahead. Every series is
        -- rewritten from there, so the cross-sectional labels at those
        -- timestamps rank every symbol, not only the new ones.
        select
            r.bar_size,
            min(a.ts) as from_ts
        from resume as r
        inner join {{ bars }} as a
            on
                a.symbol = r.symbol
                and a.bar_size = r.bar_size
                and a.bar_seq = greatest(
                    r.resume_seq - {{ label_lookahead_bars() }}, 0
                )
        group by r.bar_size
    ),

    series_write as (
        select
            b.symbol,
            b.bar_size,
            min(b.bar_seq) as write_from_seq
        from {{ bars }} as b
        inner join rewrite_from as f
            on f.bar_size = b.bar_size and b.ts >= f.from_ts
        group by b.symbol, b.bar_size
    ),

    window_start as (
        -- the open of the session before the lookback's first bar: the
        -- session gap needs the previous session's close
        select
            w.symbol,
            w.bar_size,
            w.write_from_seq,
            coalesce(p.session_start_seq, 0) as start_seq
        from series_write as w
        inner join {{ bars }} as a
            on
                a.symbol = w.symbol
                and a.bar_size = w.bar_size
                and a.bar_seq = greatest(
                    w.write_from_seq - {{ var('incremental_lookback_bars') }}, 0
                )
        left join {{ bars }} as p
            on
                p.symbol = a.symbol
                and p.bar_size = a.bar_size
                and p.bar_seq = a.session_start_seq - 1
    )

    select
        b.*,
        w.write_from_seq
    from {{ bars }} as b
    inner join window_start as w
        on w.symbol = b.symbol and w.bar_size = b.bar_size
    where b.bar_seq >= w.start_seq
{%- else %}
    select
        *,
        0 as write_from_seq
    from {{ bars }}
{%- endif %}
{% endmacro %}
