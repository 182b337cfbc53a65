{#- feature_defining_vars: the vars whose values decide what marts.fct_features
    holds (every window, the labels, the calendar, the warm-up). A build records
    them (record_feature_vars); an incremental build whose vars differ from the
    recorded ones recomputes every row instead of the tail.
    incremental_lookback_bars is left out: it changes how much history a build
    re-reads, never a value. -#}
{% macro feature_defining_vars() %}
    {%- set names = [
        'calendar', 'exchange_timezone',
        'return_window', 'sma_window', 'ema_window', 'wma_window',
        'macd_fast', 'macd_slow', 'macd_signal', 'rsi_window',
        'stoch_fastk', 'stoch_slowk', 'stoch_slowd', 'willr_window',
        'cci_window', 'roc_window', 'mfi_window', 'atr_window', 'adx_window',
        'bbands_window', 'bbands_nbdev', 'volatility_window',
        'volume_z_window', 'alpha158_windows',
        'label_horizons', 'label_horizon', 'label_price', 'label_dead_band',
        'warmup_bars',
    ] -%}
    {%- set values = {} -%}
    {%- for name in names -%}
        {%- do values.update({name: var(name)}) -%}
    {%- endfor -%}
    {{ return(values) }}
{% endmacro %}
