{#- Qlib's Alpha158 (the feature set of its LightGBM benchmark): 9 candle
    shapes, 4 price ratios and 29 rolling operators over
    var('alpha158_windows'), every one unit-free (divided by the close or a
    volume, or a ratio, count or rank).

    Differences from Qlib, on purpose: a rolling feature is null until its
    window is full (Qlib computes partial windows from the first bar), and VWAP0
    uses the bar's own wap when the source gives one, else its typical price
    (Qlib uses the day's VWAP).

    Each window aggregate is computed once (the `windows` CTE) and the features
    are arithmetic on those: 29 operators need 21 aggregates a window, and a
    window aggregate costs ~70 ms per million bars, so sharing them is most of
    this model's speed. -#}

{%- set windows = var('alpha158_windows') %}
{#- packs a rank and a bar number into one integer, so that one max / min finds
    the window's highest high and, among equal highs, the earliest bar -#}
{%- set pack = 4294967296 %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

moves as (

    select
        *,
        {%- for d in windows %}
            lag(close, {{ d }}) {{ series_order() }} as close_lag_{{ d }},
        {%- endfor %}
        lag(close) {{ series_order() }} as prev_close,
        lag(volume) {{ series_order() }} as prev_volume,
        coalesce(wap, (high + low + close) / 3) as vwap,
        -- ranks of the high and the low within the series (ties share one)
        dense_rank() over (
            partition by symbol, bar_size order by high
        ) as high_rank,
        dense_rank() over (
            partition by symbol, bar_size order by low
        ) as low_rank
    from bars

),

steps as (

    select
        *,
        greatest(close - prev_close, 0) as close_gain,
        greatest(prev_close - close, 0) as close_loss,
        case when close > prev_close then 1e0 else 0e0 end as is_up,
        case when close < prev_close then 1e0 else 0e0 end as is_down,
        abs(close / prev_close - 1) * volume as abs_return_volume,
        greatest(volume - prev_volume, 0) as volume_gain,
        greatest(prev_volume - volume, 0) as volume_loss,
        close / prev_close as close_ratio,
        ln(volume / prev_volume + 1) as log_volume_ratio,
        ln(volume + 1) as log_volume,
        -- highest rank first, then the earliest bar; lowest rank first, then
        -- the earliest bar
        high_rank * {{ pack }} + ({{ pack - 1 }} - bar_seq)
            as high_then_earliest,
        low_rank * {{ pack }} + bar_seq as low_then_earliest
    from moves

),

windows as (

    select
        *,
        {%- for d in windows %}
            -- window {{ d }}
            {{ rolling('avg(close)', d) }} as mean_close_{{ d }},
            {{ rolling('stddev_samp(close)', d) }} as std_close_{{ d }},
            {{ rolling('regr_slope(close, bar_seq)', d) }}
                as slope_close_{{ d }},
            {{ rolling('regr_r2(close, bar_seq)', d) }} as r2_close_{{ d }},
            {{ rolling('max(high)', d) }} as max_high_{{ d }},
            {{ rolling('min(low)', d) }} as min_low_{{ d }},
            {{ rolling_quantiles('close', [0.2, 0.8], d) }}
                as quantiles_close_{{ d }},
            {{ rolling_percentile_rank('close', d) }} as rank_close_{{ d }},
            {{ bar_seq_at(
                rolling('max(high_then_earliest)', d), pack, earliest_of='max'
            ) }} as bar_of_max_high_{{ d }},
            {{ bar_seq_at(
                rolling('min(low_then_earliest)', d), pack, earliest_of='min'
            ) }} as bar_of_min_low_{{ d }},
            {{ rolling('corr(close, log_volume)', d) }}
                as corr_close_log_volume_{{ d }},
            {{ rolling('corr(close_ratio, log_volume_ratio)', d, first_bar=1) }}
                as corr_ratios_{{ d }},
            {{ rolling('avg(is_up)', d, first_bar=1) }} as share_up_{{ d }},
            {{ rolling('avg(is_down)', d, first_bar=1) }} as share_down_{{ d }},
            {{ rolling('sum(close_gain)', d, first_bar=1) }}
                as sum_gain_{{ d }},
            {{ rolling('sum(close_loss)', d, first_bar=1) }}
                as sum_loss_{{ d }},
            {{ rolling('avg(volume)', d) }} as mean_volume_{{ d }},
            {{ rolling('stddev_samp(volume)', d) }} as std_volume_{{ d }},
            {{ rolling('avg(abs_return_volume)', d, first_bar=1) }}
                as mean_abs_return_volume_{{ d }},
            {{ rolling('stddev_samp(abs_return_volume)', d, first_bar=1) }}
                as std_abs_return_volume_{{ d }},
            {{ rolling('sum(volume_gain)', d, first_bar=1) }}
                as sum_volume_gain_{{ d }},
            {{ rolling('sum(volume_loss)', d, first_bar=1) }}
                as sum_volume_loss_{{ d }},
        {%- endfor %}
        -- (the window's first bar: the loop above ends with a comma)
        bar_seq - {{ windows | max - 1 }} as longest_window_first_bar
    from steps

),

features as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,

        -- candle shape, relative to the open or to the bar's range
        (close - open) / open as a158_kmid,
        (high - low) / open as a158_klen,
        (close - open) / (high - low + 1e-12) as a158_kmid2,
        (high - greatest(open, close)) / open as a158_kup,
        (high - greatest(open, close)) / (high - low + 1e-12) as a158_kup2,
        (least(open, close) - low) / open as a158_klow,
        (least(open, close) - low) / (high - low + 1e-12) as a158_klow2,
        (2 * close - high - low) / open as a158_ksft,
        (2 * close - high - low) / (high - low + 1e-12) as a158_ksft2,

        -- this bar's prices relative to its close
        open / close as a158_open0,
        high / close as a158_high0,
        low / close as a158_low0,
        vwap / close as a158_vwap0,

        {%- for d in windows %}
            {%- set moves -%}
                (sum_gain_{{ d }} + sum_loss_{{ d }} + 1e-12)
            {%- endset %}
            {%- set volume_moves -%}
                (sum_volume_gain_{{ d }} + sum_volume_loss_{{ d }} + 1e-12)
            {%- endset %}

            -- window {{ d }}
            -- ROC: the close d bars ago relative to today's (Qlib's direction)
            close_lag_{{ d }} / close as a158_roc_{{ d }},
            mean_close_{{ d }} / close as a158_ma_{{ d }},
            std_close_{{ d }} / close as a158_std_{{ d }},
            -- linear trend of the close over the window: slope per bar, fit,
            -- last residual (the window's bars are consecutive, so their mean
            -- bar number is bar_seq - (d - 1) / 2)
            slope_close_{{ d }} / close as a158_beta_{{ d }},
            r2_close_{{ d }} as a158_rsqr_{{ d }},
            (
                close
                - (mean_close_{{ d }} + slope_close_{{ d }} * {{ (d - 1) / 2 }})
            ) / close as a158_resi_{{ d }},
            max_high_{{ d }} / close as a158_max_{{ d }},
            min_low_{{ d }} / close as a158_min_{{ d }},
            {{ list_element('quantiles_close_' ~ d, 2) }} / close as a158_qtlu_{{ d }},
            {{ list_element('quantiles_close_' ~ d, 1) }} / close as a158_qtld_{{ d }},
            -- percentile rank of today's close among the last d (Qlib's Rank)
            rank_close_{{ d }} as a158_rank_{{ d }},
            (close - min_low_{{ d }})
            / (max_high_{{ d }} - min_low_{{ d }} + 1e-12) as a158_rsv_{{ d }},
            -- position (1 = oldest .. d = today) of the window's high / low,
            -- over d; the first one on ties
            (bar_of_max_high_{{ d }} - bar_seq + {{ d }}) / {{ d }}e0
                as a158_imax_{{ d }},
            (bar_of_min_low_{{ d }} - bar_seq + {{ d }}) / {{ d }}e0
                as a158_imin_{{ d }},
            (bar_of_max_high_{{ d }} - bar_of_min_low_{{ d }}) / {{ d }}e0
                as a158_imxd_{{ d }},
            corr_close_log_volume_{{ d }} as a158_corr_{{ d }},
            corr_ratios_{{ d }} as a158_cord_{{ d }},
            -- share of up / down closes, and their difference
            share_up_{{ d }} as a158_cntp_{{ d }},
            share_down_{{ d }} as a158_cntn_{{ d }},
            share_up_{{ d }} - share_down_{{ d }} as a158_cntd_{{ d }},
            -- gains, losses and net move as shares of the total absolute move
            -- (an RSI in 0..1)
            sum_gain_{{ d }} / {{ moves }} as a158_sump_{{ d }},
            sum_loss_{{ d }} / {{ moves }} as a158_sumn_{{ d }},
            (sum_gain_{{ d }} - sum_loss_{{ d }}) / {{ moves }}
                as a158_sumd_{{ d }},
            -- volume: average and spread relative to today's, and the
            -- volatility of volume-weighted moves
            mean_volume_{{ d }} / (volume + 1e-12) as a158_vma_{{ d }},
            std_volume_{{ d }} / (volume + 1e-12) as a158_vstd_{{ d }},
            std_abs_return_volume_{{ d }}
            / (mean_abs_return_volume_{{ d }} + 1e-12) as a158_wvma_{{ d }},
            sum_volume_gain_{{ d }} / {{ volume_moves }} as a158_vsump_{{ d }},
            sum_volume_loss_{{ d }} / {{ volume_moves }} as a158_vsumn_{{ d }},
            (sum_volume_gain_{{ d }} - sum_volume_loss_{{ d }})
            / {{ volume_moves }} as a158_vsumd_{{ d }},
        {%- endfor %}

        write_from_seq

    from windows

)

select {{ feature_columns() }}
from features
{{ rows_to_write() }}
