package web

import "github.com/go-chi/chi/v5"

// RouterOf is the handler's router, for tests that walk its routes.
func RouterOf(h *Handler) chi.Routes { return h.router }
