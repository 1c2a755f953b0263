package health

// observerFunc adapts a function to Observer, for tests that watch
// transitions; switchd's own observer is daemon's adapter.
type observerFunc func(Transition)

func (f observerFunc) HealthChanged(t Transition) { f(t) }
