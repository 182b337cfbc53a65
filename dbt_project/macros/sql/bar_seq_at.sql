{#- bar_seq_at: the bar number packed into a rank-then-bar integer by
    int_alpha158: for a window max of rank * pack + (pack - 1 - bar_seq)
    (earliest_of='max'), or a window min of rank * pack + bar_seq
    (earliest_of='min'). One integer max / min then finds the window's extreme
    and, among equal extremes, the earliest bar, as numpy's argmax does. -#}
{% macro bar_seq_at(packed, pack, earliest_of) -%}
    {%- if earliest_of not in ('max', 'min') -%}
        {{ exceptions.raise_compiler_error(
            "bar_seq_at: earliest_of must be 'max' or 'min', got "
            ~ earliest_of
        ) }}
    {%- endif -%}
    {{ return(adapter.dispatch('bar_seq_at', 'alphaduck')(
        packed, pack, earliest_of
    )) }}
{%- endmacro %}

{% macro default__bar_seq_at(packed, pack, earliest_of) -%}
    {%- if earliest_of == 'max' -%}
        ({{ pack - 1 }} - ({{ packed }}) % {{ pack }})
    {%- else -%}
        (({{ packed }}) % {{ pack }})
    {%- endif -%}
{%- endmacro %}
