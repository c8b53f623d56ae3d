// Package azure connects Exchange Online mailboxes (Microsoft 365,
// Outlook.com) through Microsoft Entra ID, for IMAP and SMTP with
// XOAUTH2. It implements [oauth2client.Provider] on top of MSAL for Go
// (confidential client); no MSAL type appears in its API.
//
// # Setting up the app registration
//
// In the Microsoft Entra admin center (entra.microsoft.com), under
// Identity > Applications > App registrations > New registration:
//
//  1. Name the app. Supported account types: "Accounts in this
//     organizational directory only" for your own tenant (then
//     [Config.Tenant] is your tenant), or "Accounts in any organizational
//     directory" for a multi-tenant app (then Tenant is "organizations").
//  2. Redirect URI: platform "Web" (not "Single-page application", whose
//     refresh tokens last 24 hours), with the exact callback URL of the
//     oauth2client Client, e.g. https://mail.example.com/oauth2/callback.
//     Entra accepts plain http only for localhost (see
//     [Provider.ValidateRedirectURI]).
//  3. From the app's Overview page copy "Application (client) ID" into
//     [Config.ClientID] and "Directory (tenant) ID" into [Config.Tenant].
//  4. Certificates & secrets > Client secrets > New client secret: copy
//     the Value column (shown once) into [Config.ClientSecret]. The
//     "Secret ID" column is not the secret; pasting it is the classic
//     AADSTS7000215. Or upload a certificate under Certificates and give
//     the certificate and its private key in PEM to
//     [Config.CertificatePEM], or as the .pfx file to
//     [Config.CertificatePKCS12] with [Config.CertificatePassword].
//  5. API permissions > Add a permission > APIs my organization uses >
//     "Office 365 Exchange Online" > Delegated permissions:
//     IMAP.AccessAsUser.All and SMTP.Send (plus offline_access from
//     Microsoft Graph, which the provider requests anyway). Grant admin
//     consent if users may not consent themselves.
//
// Exchange must also allow the protocols: IMAP enabled for the mailbox,
// and SMTP AUTH enabled for the mailbox or tenant
// (Set-CASMailbox -SmtpClientAuthenticationDisabled $false); security
// defaults disable SMTP AUTH.
//
// # App-only access
//
// For mailboxes opened by a service without a user present, set
// [Config.AppOnly]. In the portal add Application permissions
// IMAP.AccessAsApp and/or SMTP.SendAsApp of Office 365 Exchange Online
// and grant admin consent; then register the app in Exchange Online
// PowerShell with New-ServicePrincipal -AppId <client ID> -ObjectId
// <Object ID from the Enterprise applications page, not from App
// registrations> and give it access with Add-MailboxPermission -Identity
// <mailbox> -User <service principal> -AccessRights FullAccess.
// App-only needs a real tenant (ID or verified domain), not
// organizations or common. The token scope is
// https://outlook.office365.com/.default. A token that carries neither
// role (admin consent missing) is refused by
// oauth2client's Client.ConnectAppOnly through [Provider.CheckAppGrant],
// with the consent remedy ([ConsentRemedy]) instead of being stored.
//
// A multi-tenant app gets admin consent in each customer tenant through
// oauth2client's Client.StartAdminConsent ([Provider.AdminConsentAuthURL]),
// which hands it the customer's tenant ID.
//
// New trims surrounding whitespace of ClientID and ClientSecret (a
// copy-paste's trailing newline), and refuses a ClientID that is not a
// GUID and a secret that is a GUID (the secret's ID) or has whitespace
// inside.
//
// # Device login
//
// Headless admin tools and servers without a browser can connect a
// mailbox with the device code flow: [Provider.StartDeviceLogin] returns
// a code for the user to enter at https://microsoft.com/devicelogin,
// [DeviceLogin.Wait] returns the grant once they signed in, and
// oauth2client.Client.ConnectGrant stores it. The app registration must
// allow it: Authentication > Advanced settings > Allow public client
// flows: Yes. Those tokens belong to the app as a public client and are
// refreshed without the client secret.
//
// # National clouds
//
// Apps are registered separately in each cloud. Set [Config.Cloud] to
// [USGovernment], [USGovernmentDoD] or [China] to sign in there and reach
// that cloud's mail hosts; [Global] is the default. [Config.AuthorityURL]
// points at any other https authority (private clouds, and tests with
// mailtest.NewAzure), with MSAL's instance discovery turned off.
//
// # Tokens and state
//
// MSAL keeps refresh tokens inside its serialized cache and never hands
// them out. The provider keeps that cache, for one account only, in
// [oauth2client.Grant.ProviderState] together with the account's home
// account ID and home tenant; the Client stores it in its TokenStore, so
// the store must protect ProviderState like a token. Grant.RefreshToken
// is left empty: the refresh token is inside ProviderState, and Refresh
// needs only that. Each call hands MSAL the calling account's cache
// alone, so one account's tokens can never be written into another's
// record. Refresh tokens rotate on every refresh and the returned grant
// carries the new one.
//
// # Identity
//
// MSAL does not validate the id_token it hands back; the provider does
// (OpenID Connect Core §3.1.3.7): iss is the authority's
// {tid}/v2.0 issuer for the token's own tenant, aud the client ID, exp and
// iat on Config.Now, and the nonce AuthCodeURL sends. The identity is bound
// to the user's object and tenant IDs: Identity.Subject is "<oid>.<tid>",
// Identity.Tenant the tid, and Username the directory's preferred_username
// (or upn), which is mutable and only meaningful within its tenant. A
// single-tenant connection refuses tokens of another tenant;
// "organizations" refuses personal accounts. On a multi-tenant connection
// ([Provider.MultiTenant]) oauth2client refuses RequireUsername without
// RequireTenant. A refresh reports the refreshed oid and tid (the Client
// refuses a change) and keeps the stored username: after a UPN rename the
// account keeps working, and the new name is stored when the user
// authorizes the account again. Tenants and authorities are validated by
// [Config.Authority] before any URL is built from them.
//
// # Errors
//
// Failures are [*oauth2client.ProviderError] values whose ProviderCode is
// the AADSTS code, with a Class (who must act) and a Remedy naming the
// portal field to fix; [Errors] lists the codes the package explains.
// Secrets, codes and tokens never appear in error strings.
package azure
