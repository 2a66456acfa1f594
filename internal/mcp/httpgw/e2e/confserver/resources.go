package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	staticTextURI  = "test://static-text"
	staticBlobURI  = "test://static-binary"
	watchedURI     = "test://watched-resource"
	templatePrefix = "test://template/"
	templateSuffix = "/data"
)

// revision counts the changes of the watched resource (see watch).
var revision atomic.Int64

// addResources registers the resources of resources-list, -read-text,
// -read-binary, -subscribe and -unsubscribe, and the template of
// resources-templates-read.
func addResources(s *mcp.Server) {
	s.AddResource(&mcp.Resource{URI: staticTextURI, Name: "static-text", Description: "A static text resource", MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return contents(&mcp.ResourceContents{URI: staticTextURI, MIMEType: "text/plain", Text: "This is the content of the static text resource."}), nil
		})
	s.AddResource(&mcp.Resource{URI: staticBlobURI, Name: "static-binary", Description: "A static binary resource (a 1x1 red PNG)", MIMEType: "image/png"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return contents(&mcp.ResourceContents{URI: staticBlobURI, MIMEType: "image/png", Blob: redPixelPNG}), nil
		})
	s.AddResource(&mcp.Resource{URI: watchedURI, Name: "watched-resource", Description: "A resource that changes every few seconds; subscribe to hear of it", MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return contents(&mcp.ResourceContents{URI: watchedURI, MIMEType: "text/plain", Text: fmt.Sprintf("Watched resource, revision %d", revision.Load())}), nil
		})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: templatePrefix + "{id}" + templateSuffix, Name: "template-data", Description: "Data for the id in the URI", MIMEType: "application/json"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			uri := req.Params.URI
			id, ok := strings.CutPrefix(uri, templatePrefix)
			if ok {
				id, ok = strings.CutSuffix(id, templateSuffix)
			}
			if !ok || id == "" || strings.Contains(id, "/") {
				return nil, mcp.ResourceNotFoundError(uri)
			}
			data, err := json.Marshal(struct {
				ID           string `json:"id"`
				TemplateTest bool   `json:"templateTest"`
				Data         string `json:"data"`
			}{id, true, "Data for ID: " + id})
			if err != nil {
				return nil, err
			}
			return contents(&mcp.ResourceContents{URI: uri, MIMEType: "application/json", Text: string(data)}), nil
		})
}

func contents(c *mcp.ResourceContents) *mcp.ReadResourceResult {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{c}}
}

// subscribe accepts subscriptions to the listed resources; the SDK keeps
// track of who subscribed and sends notifications/resources/updated to
// them only (see watch).
func subscribe(_ context.Context, req *mcp.SubscribeRequest) error {
	return known(req.Params.URI)
}

func unsubscribe(_ context.Context, req *mcp.UnsubscribeRequest) error {
	return known(req.Params.URI)
}

func known(uri string) error {
	switch uri {
	case staticTextURI, staticBlobURI, watchedURI:
		return nil
	}
	return mcp.ResourceNotFoundError(uri)
}

// watch changes the watched resource every interval and tells its
// subscribers, until ctx ends.
func watch(ctx context.Context, s *mcp.Server, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			revision.Add(1)
			_ = s.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: watchedURI})
		}
	}
}
