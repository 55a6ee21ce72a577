package web

// routes is the one route table, read top to bottom.
func (s *Server) routes() {
	e := s.echo

	// Operators.
	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metricsPage)

	// The shop's and marketers' API: Bearer token.
	api := e.Group("/api", s.requireToken)
	_ = api
}
