package azure

import "github.com/oauth2mail/oauth2mail/oauth2client"

// Cloud is a Microsoft cloud instance: where users sign in and where
// their mailboxes are. Apps must be registered separately in each.
type Cloud struct {
	// Name identifies the cloud in errors and settings ("global", ...).
	Name string
	// AuthorityHost is the sign-in host URL, e.g.
	// https://login.microsoftonline.com.
	AuthorityHost string
	// Resource is the Exchange Online resource for delegated scopes,
	// e.g. https://outlook.office.com (scopes are Resource +
	// "/IMAP.AccessAsUser.All").
	Resource string
	// AppResource is the resource for app-only tokens (scope
	// AppResource + "/.default").
	AppResource string
	// IMAP and SMTP are the mail servers.
	IMAP, SMTP oauth2client.ServerAddr
}

// The Microsoft clouds. Hosts for the national clouds follow Microsoft's
// endpoint tables where they list them (GCC High, DoD) and widely used
// configurations where they do not (21Vianet SMTP).
var (
	// Global is the worldwide Microsoft 365 cloud.
	Global = Cloud{
		Name: "global", AuthorityHost: "https://login.microsoftonline.com",
		Resource: "https://outlook.office.com", AppResource: "https://outlook.office365.com",
		IMAP: oauth2client.ServerAddr{Host: "outlook.office365.com", Port: 993, Security: oauth2client.SecurityTLS},
		SMTP: oauth2client.ServerAddr{Host: "smtp.office365.com", Port: 587, Security: oauth2client.SecuritySTARTTLS},
	}
	// USGovernment is Microsoft 365 GCC High.
	USGovernment = Cloud{
		Name: "usgovernment", AuthorityHost: "https://login.microsoftonline.us",
		Resource: "https://outlook.office365.us", AppResource: "https://outlook.office365.us",
		IMAP: oauth2client.ServerAddr{Host: "outlook.office365.us", Port: 993, Security: oauth2client.SecurityTLS},
		SMTP: oauth2client.ServerAddr{Host: "outlook.office365.us", Port: 587, Security: oauth2client.SecuritySTARTTLS},
	}
	// USGovernmentDoD is Microsoft 365 DoD.
	USGovernmentDoD = Cloud{
		Name: "usgovernmentdod", AuthorityHost: "https://login.microsoftonline.us",
		Resource: "https://outlook-dod.office365.us", AppResource: "https://outlook-dod.office365.us",
		IMAP: oauth2client.ServerAddr{Host: "outlook-dod.office365.us", Port: 993, Security: oauth2client.SecurityTLS},
		SMTP: oauth2client.ServerAddr{Host: "outlook-dod.office365.us", Port: 587, Security: oauth2client.SecuritySTARTTLS},
	}
	// China is Microsoft 365 operated by 21Vianet.
	China = Cloud{
		Name: "china", AuthorityHost: "https://login.partner.microsoftonline.cn",
		Resource: "https://partner.outlook.cn", AppResource: "https://partner.outlook.cn",
		IMAP: oauth2client.ServerAddr{Host: "partner.outlook.cn", Port: 993, Security: oauth2client.SecurityTLS},
		SMTP: oauth2client.ServerAddr{Host: "smtp.partner.outlook.cn", Port: 587, Security: oauth2client.SecuritySTARTTLS},
	}
)

// CloudByName returns the cloud named "global", "usgovernment",
// "usgovernmentdod" or "china" (empty means global).
func CloudByName(name string) (Cloud, bool) {
	switch name {
	case "", "global", "public", "AzurePublic":
		return Global, true
	case "usgovernment", "gcchigh", "AzureUSGovernment":
		return USGovernment, true
	case "usgovernmentdod", "dod":
		return USGovernmentDoD, true
	case "china", "AzureChina", "21vianet":
		return China, true
	}
	return Cloud{}, false
}
