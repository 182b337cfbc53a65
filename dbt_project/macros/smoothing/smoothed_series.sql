{#- smoothed_series: run recursive states along each series of `input` (columns
    symbol, bar_size, i = the bar's position from 0, and `inputs`). `steps` is a
    list of (state, expression): a state's value at bar i from the previous
    bar's states (prev.<state>, prev.i) and this bar's inputs (bar.<input>);
    every state is null before the first bar. Returns symbol, bar_size, i and
    one column per state.

    decays: the factor each state's past shrinks by per bar (e.g. 1 - 2/(n+1)
    for an EMA); seed_bars: bars before the last state is seeded. With them
    the engines bound how far back a value depends on, and fold blocks of bars
    rather than one step per bar. -#}
{% macro smoothed_series(input, steps, inputs, decays, seed_bars) -%}
    {{ return(adapter.dispatch('smoothed_series', 'alphaduck')(
        input, steps, inputs, decays, seed_bars
    )) }}
{%- endmacro %}

{#- A recursive CTE over blocks of each series, every block of every series
    stepping at once. A step costs about 100 us on DuckDB whatever its rows, so
    one step per bar made 1M bars in 20 series 50,000 steps (5.5 s); blocks of
    B bars take W + B steps however long the series (2.0-3.0 s). A block
    folds from W bars before it (the first from the series' start), its states
    starting afresh there, as on Spark. W is measured to 1e-18 of a start's
    weight, below rounding: on 1M bars every state equalled the one-step-per-
    bar recursion to the last bit. B = 4W: each bar is folded 1.25 times on
    average. (A CTE that a recursion joins must be materialized: DuckDB would
    otherwise recompute it at every step.) -#}
{% macro default__smoothed_series(input, steps, inputs, decays, seed_bars) -%}
    {%- set w = smoothing_memory_bars(decays, seed_bars, 1e-18) %}
    {%- set b = 4 * w %}
    with recursive blocked as materialized (

        -- each bar in its own block, and among the W bars before the next;
        -- i: its position in its block's fold
        select
            symbol,
            bar_size,
            block,
            i - greatest(block * {{ b }} - {{ w }}, 0) as i,
            {%- for name in inputs %}
            {{ name }}{{ "," if not loop.last }}
            {%- endfor %}
        from (
            select
                {{ input }}.*,
                cast(floor(i / {{ b }}) as bigint) + copies.ahead as block
            from {{ input }}
            cross join (select 0 as ahead union all select 1 as ahead) as copies
            where copies.ahead = 0 or i % {{ b }} >= {{ b - w }}
        ) as copied

    ),

    steps_so_far as (

        select
            symbol,
            bar_size,
            block,
            i,
            {%- for state, _ in steps %}
            cast(null as double) as {{ state }}{{ "," if not loop.last }}
            {%- endfor %}
        from blocked
        where i = 0

        union all

        select
            prev.symbol,
            prev.bar_size,
            prev.block,
            bar.i,
            {%- for state, step in steps %}
            {{ step }} as {{ state }}{{ "," if not loop.last }}
            {%- endfor %}
        from steps_so_far as prev
        inner join blocked as bar
            on
                prev.symbol = bar.symbol
                and prev.bar_size = bar.bar_size
                and prev.block = bar.block
                and prev.i + 1 = bar.i

    )

    select
        symbol,
        bar_size,
        i + greatest(block * {{ b }} - {{ w }}, 0) as i,
        {%- for state, _ in steps %}
        {{ state }}{{ "," if not loop.last }}
        {%- endfor %}
    from steps_so_far
    -- a block's own bars (the last block's copy ahead has none)
    where i + greatest(block * {{ b }} - {{ w }}, 0) >= block * {{ b }}
{%- endmacro %}

{#- Spark runs a recursive CTE one job per bar, so it folds the steps over
    arrays instead (aggregate). Each series is cut into blocks of K bars; a
    block's fold starts afresh (seeds included) K bars before the block and
    keeps the states of the block's own bars. Bars within K of a series' start
    are folded from the start itself: the same steps, the same values. Later
    bars forget what lies more than K bars back: K is seed_bars plus the bars
    after which the slowest decay leaves less than 1e-12 of a start's weight
    (smoothing_memory_bars), the bound warmup_bars rests on too. Every bar is
    folded twice (in its block and before the next one). -#}
{% macro spark__smoothed_series(input, steps, inputs, decays, seed_bars) -%}
    {%- set k = smoothing_memory_bars(decays, seed_bars) %}
    {%- set state_type -%}
        struct<bar_i: bigint
        {%- for state, _ in steps %}, {{ state }}: double{% endfor %}>
    {%- endset %}
    {%- set kept -%}
        named_struct(
            'bar_i', acc.bar_i
            {%- for state, _ in steps %}, '{{ state }}', acc.{{ state }}{% endfor %}
        )
    {%- endset %}
    select
        symbol,
        bar_size,
        kept.bar_i as i,
        {%- for state, _ in steps %}
        kept.{{ state }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        select
            symbol,
            bar_size,
            block,
            explode(aggregate(
                -- the block's bars after the K before it, in bar order
                array_sort(collect_list(named_struct(
                    'i', i
                    {%- for name in inputs %}, '{{ name }}', {{ name }}{% endfor %}
                ))),
                named_struct(
                    'i', cast(-1 as bigint),
                    'bar_i', cast(null as bigint),
                    {%- for state, _ in steps %}
                    '{{ state }}', cast(null as double),
                    {%- endfor %}
                    'kept', cast(array() as array<{{ state_type }}>)
                ),
                (prev, bar) -> named_struct(
                    'i', prev.i + 1,
                    'bar_i', cast(bar.i as bigint),
                    {%- for state, step in steps %}
                    '{{ state }}', cast({{ step }} as double),
                    {%- endfor %}
                    -- the previous bar's states, once it is one of the block's
                    'kept', case
                        when prev.bar_i >= block * {{ k }}
                            then concat(prev.kept, array({{ kept | replace('acc.', 'prev.') }}))
                        else prev.kept
                    end
                ),
                acc -> concat(acc.kept, array({{ kept }}))
            )) as kept
        from (
            -- each bar in its own block, and among the K bars before the next
            select
                {{ input }}.*,
                floor(i / {{ k }}) + copies.ahead as block
            from {{ input }}
            cross join (select 0 as ahead union all select 1 as ahead) as copies
        )
        group by symbol, bar_size, block
    )
    -- (the last block's copy ahead holds none of its own bars)
    where kept.bar_i >= block * {{ k }}
{%- endmacro %}
