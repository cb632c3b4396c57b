"""Reports: fraud rates, contracts (penalties and bonuses), card-scheme programmes, PSD2."""
