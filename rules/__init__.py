"""relulint's rules, one module per rule (shipped in the wheel as `relulint.rules`).

Each module defines one `relulint.registry.Rule` subclass carrying its code, name, docs (What it does /
Why is this bad? / Example / Use instead / Options / References) and its VALID / INVALID example models.
Modules are discovered by `relulint.registry.all_rules()`; a rule registers itself by its code.
"""
