{#- label_horizons: the label horizons fct_features computes (var
    label_horizons, bars held after the fill), checked and sorted; var
    label_horizon, the one training and analysis use by default, must be among
    them. -#}
{% macro label_horizons() %}
    {%- set horizons = var('label_horizons') -%}
    {%- if horizons is number -%}{%- set horizons = [horizons] -%}{%- endif -%}
    {%- if horizons is string or horizons is not iterable
        or horizons | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var label_horizons must be a list of whole numbers of bars >= 1, "
            ~ "e.g. [1, 5, 20], got " ~ horizons
        ) }}
    {%- endif -%}
    {%- for h in horizons -%}
        {%- if h is not number or h < 1 or h != h | int -%}
            {{ exceptions.raise_compiler_error(
                "var label_horizons must hold whole numbers of bars >= 1, got "
                ~ h
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set default = var('label_horizon') -%}
    {%- if default not in horizons -%}
        {{ exceptions.raise_compiler_error(
            "var label_horizon (" ~ default
            ~ ") must be one of var label_horizons " ~ horizons
        ) }}
    {%- endif -%}
    {{ return(horizons | map('int') | unique | sort) }}
{% endmacro %}
