package webform

import "github.com/gin-gonic/gin"

// SourceKey exposes sourceKey to the external tests.
var SourceKey = sourceKey

// Routes lists the routes gin has registered, for openapi_test.go.
func (s *Server) Routes() gin.RoutesInfo { return s.routes() }

// The wire types openapi_test.go checks against the OpenAPI document.
type (
	ReportRequest  = reportRequest
	ReportResponse = reportResponse
	TicketView     = ticketView
	EventView      = eventView
	APIError       = apiError
)

// FormFields are the multipart fields a report may have besides photos.
var FormFields = formFields
