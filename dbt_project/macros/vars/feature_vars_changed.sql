{#- feature_vars_changed: whether the feature-defining vars differ from those
    the existing feature tables were built with (a missing record counts as
    changed): an incremental build then recomputes every row, so a changed
    window or horizon never leaves old values behind. -#}
{% macro feature_vars_changed() %}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set recorded = recorded_feature_vars() -%}
    {%- set current = fromjson(tojson(feature_defining_vars())) -%}
    {%- if recorded == current -%}{{ return(false) }}{%- endif -%}
    {%- if recorded is not none -%}
        {%- set changed = [] -%}
        {%- for name, value in current.items()
            if recorded.get(name) != value -%}
            {%- do changed.append(
                name ~ " " ~ recorded.get(name) ~ " -> " ~ value
            ) -%}
        {%- endfor -%}
        {%- do log(
            "feature vars changed (" ~ changed | join(", ")
            ~ "): recomputing every row",
            info=true
        ) -%}
    {%- endif -%}
    {{ return(true) }}
{% endmacro %}
