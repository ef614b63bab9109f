// The function app: Flex Consumption, Linux, Python 3.11, running as the user-assigned identity
// (storage, Key Vault references, telemetry). functionAppConfig as in
// Azure-Samples/azure-functions-flex-consumption-samples IaC/armtemplate/azuredeploy.json and
// functions-quickstart-python-http-azd infra/app/api.bicep; the app settings are one
// sites/config 'appsettings' resource, as the flex sample's `configs` writes them.
param name string
param location string = resourceGroup().location
param tags object = {}
param planId string
param storageAccountName string
param deploymentContainerName string
param identityId string
param identityClientId string
param appInsightsConnectionString string

@description('The product\'s own settings (README, Configuration).')
param appSettings object

@description('Overrides host.json\'s extensions.queues.maxDequeueCount when given.')
param maxDequeueCount string = ''

param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Storage by identity, as the Functions host reads it (and the app's adapters with it).
var storageSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__blobServiceUri: 'https://${storage.name}.blob.${environment().suffixes.storage}'
  AzureWebJobsStorage__queueServiceUri: 'https://${storage.name}.queue.${environment().suffixes.storage}'
  AzureWebJobsStorage__tableServiceUri: 'https://${storage.name}.table.${environment().suffixes.storage}'
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

// Application Insights refuses keys (disableLocalAuth): the host and the OpenTelemetry exporter
// both read APPLICATIONINSIGHTS_AUTHENTICATION_STRING and sign in as the identity.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

var hostSettings = empty(maxDequeueCount) ? {} : { AzureFunctionsJobHost__extensions__queues__maxDequeueCount: maxDequeueCount }

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      alwaysOn: false
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, storageSettings, monitoringSettings, hostSettings)
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
