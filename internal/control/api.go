package control

import "github.com/switchd/switchd/control/api"

// The API's types; see package api.
type (
	ErrorBody     = api.ErrorBody
	ErrorDetail   = api.ErrorDetail
	ChangeRequest = api.ChangeRequest
	ChangeResult  = api.ChangeResult
	PoolRequest   = api.PoolRequest
	HealthSpec    = api.HealthSpec
	PoolResult    = api.PoolResult
	ServiceList   = api.ServiceList
	Service       = api.Service
	Pool          = api.Pool
	Upstream      = api.Upstream
	GuardStatus   = api.GuardStatus
	GuardWindow   = api.GuardWindow
	GuardTrip     = api.GuardTrip
	WaitResult    = api.WaitResult
	Health        = api.Health
	Event         = api.Event
	LogLevel      = api.LogLevel
	Status        = api.Status
	ConfigStatus  = api.ConfigStatus
	ReloadStatus  = api.ReloadStatus
	StateStatus   = api.StateStatus
	CertStatus    = api.CertStatus
	Fleet         = api.Fleet
	FleetNode     = api.FleetNode
)

// The error codes; see package api.
const (
	CodeBadRequest           = api.CodeBadRequest
	CodeUnauthorized         = api.CodeUnauthorized
	CodeForbidden            = api.CodeForbidden
	CodeForbiddenOrigin      = api.CodeForbiddenOrigin
	CodeUnsupportedMediaType = api.CodeUnsupportedMediaType
	CodeTooManyRequests      = api.CodeTooManyRequests
	CodeNotFound             = api.CodeNotFound
	CodeMethod               = api.CodeMethod
	CodeConflict             = api.CodeConflict
	CodeTargetUnhealthy      = api.CodeTargetUnhealthy
	CodeTargetEmpty          = api.CodeTargetEmpty
	CodeNoPrevious           = api.CodeNoPrevious
	CodeReverted             = api.CodeReverted
	CodeTimeout              = api.CodeTimeout
	CodePersist              = api.CodePersist
	CodeInternal             = api.CodeInternal
	CodeUpgradeFailed        = api.CodeUpgradeFailed
	CodeUpgrading            = api.CodeUpgrading
	CodeStoreUnavailable     = api.CodeStoreUnavailable
)
