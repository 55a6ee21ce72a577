package web

import "github.com/treu-mail/treu/campaigns"

// routes is the one route table, read top to bottom.
func (s *Server) routes(ui UIDeps) {
	e := s.echo

	// Operators.
	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metricsPage)

	// Relays' event webhooks (SES, SendGrid, Postmark, Mailgun, Brevo):
	// each request proves itself by the provider's signature, not a token.
	e.POST("/webhooks/:provider", s.providerWebhook)

	// Customers: signed links and the public form (web/public.go).
	pub := s.publicRoutes(s.subs)
	s.npsRoutes(pub)   // web/public_nps.go
	s.trackingRoutes() // /l/ and /o/: tracked links and the open pixel

	// Marketers: the browser UI under /ui (web/ui_*.go).
	s.uiRoutes(ui)

	// The shop's and marketers' API: Bearer token.
	api := e.Group("/api", s.requireToken)

	api.POST("/subscribers", s.enroll)
	api.GET("/subscribers/export.csv", s.exportSubscribersCSV)
	api.GET("/subscribers/:ref", s.getSubscriber)
	api.PATCH("/subscribers/:ref", s.updateSubscriber)
	api.DELETE("/subscribers/:ref", s.eraseSubscriber)
	api.GET("/subscribers/:ref/export", s.exportSubscriber)

	api.POST("/events", s.ingestEvent)
	api.POST("/bounces", s.reportBounce)

	api.POST("/tx", s.tx.send)
	api.GET("/tx-templates", s.tx.listTemplates)
	api.GET("/tx-templates/:slug", s.tx.getTemplate)
	api.PUT("/tx-templates/:slug", s.tx.putTemplate)
	api.DELETE("/tx-templates/:slug", s.tx.deleteTemplate)

	api.GET("/lists", s.lists)
	api.POST("/lists", s.createList)

	api.GET("/segments", s.listSegments)
	api.POST("/segments", s.createSegment)
	api.GET("/segments/:id", s.getSegment)
	api.PUT("/segments/:id", s.updateSegment)
	api.DELETE("/segments/:id", s.deleteSegment)
	api.GET("/segments/:id/count", s.countSegment)

	api.GET("/campaigns", s.listCampaigns)
	api.POST("/campaigns", s.createCampaign)
	api.GET("/campaigns/:id", s.getCampaign)
	api.PUT("/campaigns/:id", s.updateCampaign)
	api.PATCH("/campaigns/:id", s.updateCampaign)
	api.DELETE("/campaigns/:id", s.deleteCampaign)
	api.GET("/campaigns/:id/preview", s.previewCampaign)
	api.GET("/campaigns/:id/links", s.campaignLinks)
	api.POST("/campaigns/:id/test", s.testCampaign)
	api.POST("/campaigns/:id/start", s.campaignAction((*campaigns.Engine).Start))
	api.POST("/campaigns/:id/pause", s.campaignAction((*campaigns.Engine).Pause))
	api.POST("/campaigns/:id/resume", s.campaignAction((*campaigns.Engine).Resume))
	api.POST("/campaigns/:id/cancel", s.campaignAction((*campaigns.Engine).Cancel))

	api.GET("/layouts", s.listLayouts)
	api.POST("/layouts", s.createLayout)
	api.GET("/layouts/:id", s.getLayout)
	api.PUT("/layouts/:id", s.updateLayout)
	api.DELETE("/layouts/:id", s.deleteLayout)

	api.GET("/flows", s.listFlows)
	api.GET("/flows/:slug", s.getFlow)
	api.PUT("/flows/:slug", s.putFlow)
	api.GET("/flows/:slug/stats", s.flowStats)

	api.GET("/coupon-pools", s.listPools)
	api.POST("/coupon-pools", s.createPool)
	api.GET("/coupon-pools/:slug", s.getPool)
	api.POST("/coupon-pools/:slug/codes", s.addCodes)

	api.GET("/retention", s.retentionReport)
	api.GET("/webhooks", s.listWebhooks)
	api.POST("/webhooks", s.createWebhook)
	api.DELETE("/webhooks/:id", s.deleteWebhook)
	api.GET("/webhooks/:id/deliveries", s.webhookDeliveries)

	api.GET("/outbox", s.outboxList)
	api.GET("/outbox/:id", s.outboxGet)
}
