package doctor_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/doctor"
	"github.com/oauth2mail/oauth2mail/mailtest"
)

// A multi-tenant app's credential cannot be checked at "organizations":
// the doctor says how to get a customer tenant's ID (admin consent).
func TestMultiTenantPointsToAdminConsent(t *testing.T) {
	entra, err := mailtest.NewAzure(mailtest.AzureOptions{})
	require.NoError(t, err)
	defer entra.Close()
	cfg := entra.AzureConfig()
	cfg.Tenant = "organizations"
	r := doctor.Azure(context.Background(), doctor.AzureConfig{Azure: cfg})
	s := r.Step(doctor.StepCredential)
	require.NotNil(t, s)
	assert.Equal(t, doctor.Skip, s.Status)
	assert.Contains(t, s.Detail, "Client.StartAdminConsent")
}
