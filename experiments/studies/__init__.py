"""The studies' README generators: one module (numbers and verdicts) and one template (prose,
``{placeholders}``) per study, plus `common` (loading the committed tables, shared helpers)."""
