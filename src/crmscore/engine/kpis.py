def period_kpis(*a, **k): raise NotImplementedError
