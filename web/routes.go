package web

import (
	"net/http"

	"github.com/treu-mail/treu/campaigns"
)

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
	s.npsRoutes(pub)      // web/public_nps.go
	s.referralRoutes(pub) // web/public_referral.go
	s.trackingRoutes()    // /l/ and /o/: tracked links and the open pixel

	// Marketers: the browser UI under /ui (web/ui_*.go).
	s.uiRoutes(ui)

	// The shop's and marketers' API: Bearer token. shop routes take any
	// token; admin routes refuse a shop token with 403 (web/access.go).
	api := e.Group("/api", s.requireToken)
	shop, admin := s.apiScopes(api)

	shop(http.MethodPost, "/subscribers", s.enroll)
	admin(http.MethodGet, "/subscribers/export.csv", s.exportSubscribersCSV)
	shop(http.MethodGet, "/subscribers/:ref", s.getSubscriber)
	admin(http.MethodPatch, "/subscribers/:ref", s.updateSubscriber)
	admin(http.MethodDelete, "/subscribers/:ref", s.eraseSubscriber)
	admin(http.MethodGet, "/subscribers/:ref/export", s.exportSubscriber)

	shop(http.MethodPost, "/events", s.ingestEvent)
	admin(http.MethodPost, "/bounces", s.reportBounce)

	shop(http.MethodPost, "/tx", s.tx.send)
	admin(http.MethodGet, "/tx-templates", s.tx.listTemplates)
	admin(http.MethodGet, "/tx-templates/:slug", s.tx.getTemplate)
	admin(http.MethodPut, "/tx-templates/:slug", s.tx.putTemplate)
	admin(http.MethodDelete, "/tx-templates/:slug", s.tx.deleteTemplate)

	admin(http.MethodGet, "/lists", s.lists)
	admin(http.MethodPost, "/lists", s.createList)
	admin(http.MethodPatch, "/lists/:slug", s.updateList)

	admin(http.MethodGet, "/segments", s.listSegments)
	admin(http.MethodPost, "/segments", s.createSegment)
	admin(http.MethodGet, "/segments/:id", s.getSegment)
	admin(http.MethodPut, "/segments/:id", s.updateSegment)
	admin(http.MethodDelete, "/segments/:id", s.deleteSegment)
	admin(http.MethodGet, "/segments/:id/count", s.countSegment)

	admin(http.MethodGet, "/campaigns", s.listCampaigns)
	admin(http.MethodPost, "/campaigns", s.createCampaign)
	admin(http.MethodGet, "/campaigns/:id", s.getCampaign)
	admin(http.MethodPut, "/campaigns/:id", s.updateCampaign)
	admin(http.MethodPatch, "/campaigns/:id", s.updateCampaign)
	admin(http.MethodDelete, "/campaigns/:id", s.deleteCampaign)
	admin(http.MethodGet, "/campaigns/:id/preview", s.previewCampaign)
	admin(http.MethodGet, "/campaigns/:id/links", s.campaignLinks)
	admin(http.MethodPost, "/campaigns/:id/test", s.testCampaign)
	admin(http.MethodPost, "/campaigns/:id/winner", s.pickWinner)
	admin(http.MethodPost, "/campaigns/:id/start", s.campaignAction((*campaigns.Engine).Start))
	admin(http.MethodPost, "/campaigns/:id/pause", s.campaignAction((*campaigns.Engine).Pause))
	admin(http.MethodPost, "/campaigns/:id/resume", s.campaignAction((*campaigns.Engine).Resume))
	admin(http.MethodPost, "/campaigns/:id/cancel", s.campaignAction((*campaigns.Engine).Cancel))

	admin(http.MethodGet, "/layouts", s.listLayouts)
	admin(http.MethodPost, "/layouts", s.createLayout)
	admin(http.MethodGet, "/layouts/:id", s.getLayout)
	admin(http.MethodPut, "/layouts/:id", s.updateLayout)
	admin(http.MethodDelete, "/layouts/:id", s.deleteLayout)

	admin(http.MethodGet, "/flows", s.listFlows)
	admin(http.MethodGet, "/flows/templates", s.listFlowTemplates)
	admin(http.MethodPost, "/flows/templates/:key", s.createFlowFromTemplate)
	admin(http.MethodGet, "/flows/:slug", s.getFlow)
	admin(http.MethodPost, "/flows", s.createFlow)
	admin(http.MethodPut, "/flows/:slug", s.putFlow)
	admin(http.MethodDelete, "/flows/:slug", s.deleteFlow)
	admin(http.MethodGet, "/flows/:slug/stats", s.flowStats)

	admin(http.MethodGet, "/coupon-pools", s.listPools)
	admin(http.MethodPost, "/coupon-pools", s.createPool)
	admin(http.MethodGet, "/coupon-pools/:slug", s.getPool)
	admin(http.MethodPost, "/coupon-pools/:slug/codes", s.addCodes)

	admin(http.MethodGet, "/retention", s.retentionReport)
	admin(http.MethodGet, "/webhooks", s.listWebhooks)
	admin(http.MethodPost, "/webhooks", s.createWebhook)
	admin(http.MethodDelete, "/webhooks/:id", s.deleteWebhook)
	admin(http.MethodGet, "/webhooks/:id/deliveries", s.webhookDeliveries)

	admin(http.MethodGet, "/outbox", s.outboxList)
	admin(http.MethodGet, "/outbox/:id", s.outboxGet)

	admin(http.MethodGet, "/audit", s.auditList)

	checkGuarded(e, s.guards, "/api/", "/ui/")
}
