// What `azd up` provisions (DESIGN.md section 14): a Flex Consumption function app (Python
// 3.11, Linux), its storage account (deployment container, tables, queues; no shared keys), a
// user-assigned identity with the data roles, Application Insights on Log Analytics, and a Key
// Vault for the two secrets. Laid out as Azure-Samples/functions-quickstart-python-http-azd
// (infra/main.bicep, app/api.bicep, app/rbac.bicep) with the Flex Consumption settings of
// Azure-Samples/azure-functions-flex-consumption-samples (IaC/bicep/main.bicep). Not compiled
// where it was written (no Bicep CLI there): `az bicep build --file infra/main.bicep` checks it.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: the resource group is rg-<name>, every name derives from it.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of whoever runs azd: given the storage data roles (to deploy, and to load a tenant) and Key Vault Secrets Officer. Empty: nobody.')
param principalId string = ''

@description('User, or ServicePrincipal when azd runs in a pipeline.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

// --- Entra ID: which bearer tokens the app accepts (the AUTH_* settings) ---

@description('Application (client) id of the product\'s own app registration.')
param authClientId string

@description('That registration\'s Application ID URI; api://<client id> when empty.')
param authAppIdUri string = ''

@description('Tenant whose tokens are accepted; the deployment\'s tenant when empty.')
param authTenantId string = ''

// --- The mail worker (the MAIL_*, SMTP_* and GRAPH_* settings) ---

@description('How the worker sends cancellations. maildir writes to the instance\'s own /tmp: for a trial only.')
@allowed([
  'graph'
  'smtp'
  'maildir'
])
param mailTransport string = 'graph'

param mailTimeoutSeconds string = '30'
@description('Recipients of one notification sent to at once.')
param mailConcurrency string = '4'
@description('Recipients kept in one delivery-state row, claimed and ended in one write (1-100).')
param mailBatch string = '100'
param smtpHost string = ''
param smtpPort string = '587'
param smtpStartTls string = 'true'
param smtpUsername string = ''
param smtpFrom string = ''

@secure()
@description('Written to Key Vault as smtp-password when given; the app setting references it.')
param smtpPassword string = ''

@description('Tenant of the registration that sends mail (application permission Mail.Send); authTenantId when empty.')
param graphTenantId string = ''

@description('Client id of that registration; authClientId when empty.')
param graphClientId string = ''

@secure()
@description('Written to Key Vault as graph-client-secret when given; the app setting references it.')
param graphClientSecret string = ''

// --- Storage names and the sweeper ---

param calendarTable string = 'calendar'
param directoryTable string = 'directory'
param notificationQueue string = 'event-cancellations'
param sweepSchedule string = '0 */1 * * * *'
param sweepAfterSeconds string = '300'
@description('How long users, groups and calendars\' placements read from storage are kept in memory (0: not at all).')
param directoryCacheSeconds string = '60'

@description('Overrides host.json\'s extensions.queues.maxDequeueCount when given.')
param maxDequeueCount string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var tenantId = empty(authTenantId) ? tenant().tenantId : authTenantId
var appIdUri = empty(authAppIdUri) ? 'api://${authClientId}' : authAppIdUri
// Global Azure's Entra ID, as the v1.0 issuer sts.windows.net below is.
#disable-next-line no-hardcoded-env-urls
var loginHost = 'https://login.microsoftonline.com'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.7.0' = {
  name: 'loganalytics'
  scope: rg
  params: {
    name: 'log-${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.4.1' = {
  name: 'appinsights'
  scope: rg
  params: {
    name: 'appi-${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    tableNames: [
      calendarTable
      directoryTable
    ]
    queueNames: [
      notificationQueue
      '${notificationQueue}-poison'
    ]
  }
}

module vault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    smtpPassword: smtpPassword
    graphClientSecret: graphClientSecret
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.name
    keyVaultName: vault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  // The identity holds its roles before the host first starts with these settings.
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    location: location
    tags: tags
    planId: plan.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    appInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: {
      CALENDAR_TABLE: calendarTable
      DIRECTORY_TABLE: directoryTable
      NOTIFICATION_QUEUE: notificationQueue
      SWEEP_SCHEDULE: sweepSchedule
      SWEEP_AFTER_SECONDS: sweepAfterSeconds
      DIRECTORY_CACHE_SECONDS: directoryCacheSeconds
      AUTH_TENANT_ID: tenantId
      AUTH_CLIENT_ID: authClientId
      // v2.0 tokens name the client id, v1.0 tokens (the registration's default) the App ID URI.
      AUTH_AUDIENCES: '${authClientId},${appIdUri}'
      AUTH_ISSUERS: '${loginHost}/${tenantId}/v2.0,https://sts.windows.net/${tenantId}/'
      AUTH_JWKS_URI: '${loginHost}/${tenantId}/discovery/v2.0/keys'
      AUTH_JWKS_FILE: '' // the dev key's file: never in Azure
      AUTH_AUTHORITY: loginHost
      MAIL_TRANSPORT: mailTransport
      MAIL_MAILDIR: '/tmp/maildir' // the app's own folder is read-only when run from the package
      MAIL_TIMEOUT_SECONDS: mailTimeoutSeconds
      MAIL_CONCURRENCY: mailConcurrency
      MAIL_BATCH: mailBatch
      SMTP_HOST: smtpHost
      SMTP_PORT: smtpPort
      SMTP_STARTTLS: smtpStartTls
      SMTP_USERNAME: smtpUsername
      SMTP_PASSWORD: '@Microsoft.KeyVault(SecretUri=${vault.outputs.smtpPasswordUri})'
      SMTP_FROM: smtpFrom
      GRAPH_TENANT_ID: empty(graphTenantId) ? tenantId : graphTenantId
      GRAPH_CLIENT_ID: empty(graphClientId) ? authClientId : graphClientId
      GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.outputs.graphClientSecretUri})'
      GRAPH_AUTHORITY_HOST: loginHost
      GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0'
    }
    maxDequeueCount: maxDequeueCount
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
