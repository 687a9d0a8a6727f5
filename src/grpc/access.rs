//! Who may call what, in one place: the table of RPCs and the roles allowed to call them
//! (DESIGN.md §6), and the tower layer that authenticates every call before any handler runs.
//! Tenant scope (a municipality sees only its own contracts) is checked by the service layer,
//! which knows whose a resource is.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::BoxFuture;
use tonic::codegen::http;

use crate::auth::{AuthError, Authenticator};
use crate::domain::{Principal, Role};

/// The roles, without a municipality's code: what the table speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// Flextensie's billing system.
    Billing,
    /// A municipality's finance system (scoped to its own contracts by the service layer).
    Gemeente,
    /// An auditor.
    Auditor,
    /// An administrator of contracts, terms, intercedents and rates.
    Admin,
}

impl RoleKind {
    /// Every role.
    pub const ALL: [RoleKind; 4] = [RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin];

    /// The kind of a principal's role.
    #[must_use]
    pub fn of(role: &Role) -> RoleKind {
        match role {
            Role::Billing => RoleKind::Billing,
            Role::Gemeente(_) => RoleKind::Gemeente,
            Role::Auditor => RoleKind::Auditor,
            Role::Admin => RoleKind::Admin,
        }
    }
}

use RoleKind::{Admin, Auditor, Billing, Gemeente};

/// Roles that read contracts, intercedents, hours and savings.
const READERS: &[RoleKind] = &[Billing, Gemeente, Auditor, Admin];
/// Roles that manage contracts, terms, intercedents and rates.
const ADMINS: &[RoleKind] = &[Admin];
/// Flextensie's billing system: submits hours (and savings), settles periods.
const BILLING: &[RoleKind] = &[Billing];
/// Either party of a contract: savings are submitted by one and verified by the other (R9).
const PARTIES: &[RoleKind] = &[Billing, Gemeente];
/// A municipality: verifies what Flextensie submits, registers intake (own contracts only).
const GEMEENTE: &[RoleKind] = &[Gemeente];
/// Readers of the audit log: auditors and admins everything, a municipality its own contracts'
/// entries (and the same checkpoints and proofs).
const LOG_READERS: &[RoleKind] = &[Gemeente, Auditor, Admin];

/// Readers of invoices (DESIGN.md §9): billing, auditors, a municipality its own; the first
/// read of a statement's invoice issues it.
const INVOICE_READERS: &[RoleKind] = &[Billing, Gemeente, Auditor];

/// Every RPC of the API and the roles that may call it. A test checks that every method of
/// the API has exactly one entry.
pub const RULES: &[(&str, &[RoleKind])] = &[
    ("/flextensie.settlement.v1.ContractService/CreateContract", ADMINS),
    ("/flextensie.settlement.v1.ContractService/GetContract", READERS),
    ("/flextensie.settlement.v1.ContractService/ListContracts", READERS),
    ("/flextensie.settlement.v1.ContractService/CreateIntercedent", ADMINS),
    ("/flextensie.settlement.v1.ContractService/GetIntercedent", READERS),
    ("/flextensie.settlement.v1.ContractService/ListIntercedents", READERS),
    ("/flextensie.settlement.v1.ContractService/CreateHourlyRate", ADMINS),
    ("/flextensie.settlement.v1.HoursService/SubmitHours", BILLING),
    ("/flextensie.settlement.v1.HoursService/CorrectHours", BILLING),
    ("/flextensie.settlement.v1.HoursService/VerifyHours", GEMEENTE),
    ("/flextensie.settlement.v1.HoursService/RejectHours", GEMEENTE),
    ("/flextensie.settlement.v1.HoursService/GetHourEntry", READERS),
    ("/flextensie.settlement.v1.HoursService/ListHourEntries", READERS),
    ("/flextensie.settlement.v1.HoursService/GetHoursTotals", READERS),
    ("/flextensie.settlement.v1.GoNoGoService/EvaluateCheckpoint", PARTIES),
    ("/flextensie.settlement.v1.GoNoGoService/GetEvaluation", READERS),
    ("/flextensie.settlement.v1.GoNoGoService/RecordGoNoGoDecision", PARTIES),
    ("/flextensie.settlement.v1.GoNoGoService/ExerciseExtension", ADMINS),
    ("/flextensie.settlement.v1.PoolService/RegisterCandidate", GEMEENTE),
    ("/flextensie.settlement.v1.PoolService/RecordCandidateEvent", GEMEENTE),
    ("/flextensie.settlement.v1.PoolService/GetCandidate", READERS),
    ("/flextensie.settlement.v1.PoolService/ListCandidates", READERS),
    ("/flextensie.settlement.v1.PoolService/GetIntake", READERS),
    ("/flextensie.settlement.v1.PoolService/ListIntakeWindows", READERS),
    ("/flextensie.settlement.v1.PoolService/GetComposition", READERS),
    ("/flextensie.settlement.v1.PoolService/GetSocialResults", READERS),
    ("/flextensie.settlement.v1.SavingsService/SubmitSavings", PARTIES),
    ("/flextensie.settlement.v1.SavingsService/CorrectSavings", PARTIES),
    ("/flextensie.settlement.v1.SavingsService/VerifySavings", PARTIES),
    ("/flextensie.settlement.v1.SavingsService/RejectSavings", PARTIES),
    ("/flextensie.settlement.v1.SavingsService/GetSavings", READERS),
    ("/flextensie.settlement.v1.SavingsService/ListSavings", READERS),
    ("/flextensie.settlement.v1.SavingsService/GetSavingsTotals", READERS),
    ("/flextensie.settlement.v1.SettlementService/PreviewSettlement", READERS),
    ("/flextensie.settlement.v1.SettlementService/SettlePeriod", BILLING),
    ("/flextensie.settlement.v1.SettlementService/GetStatement", READERS),
    ("/flextensie.settlement.v1.SettlementService/ListStatements", READERS),
    ("/flextensie.settlement.v1.SettlementService/ExportStatement", READERS),
    ("/flextensie.settlement.v1.InvoiceService/PutMunicipality", ADMINS),
    ("/flextensie.settlement.v1.InvoiceService/GetMunicipality", READERS),
    ("/flextensie.settlement.v1.InvoiceService/SetContractInvoicing", ADMINS),
    ("/flextensie.settlement.v1.InvoiceService/ListContractInvoicing", READERS),
    ("/flextensie.settlement.v1.InvoiceService/GetStatementInvoice", INVOICE_READERS),
    ("/flextensie.settlement.v1.InvoiceService/ListInvoices", INVOICE_READERS),
    ("/flextensie.settlement.v1.AuditService/ListAuditEntries", LOG_READERS),
    ("/flextensie.settlement.v1.AuditService/StreamAuditEntries", LOG_READERS),
    ("/flextensie.settlement.v1.AuditService/GetCheckpoint", LOG_READERS),
    ("/flextensie.settlement.v1.AuditService/GetInclusionProof", LOG_READERS),
    ("/flextensie.settlement.v1.AuditService/GetConsistencyProof", LOG_READERS),
    ("/flextensie.settlement.v1.AuditService/GetLogPublicKey", LOG_READERS),
    ("/flextensie.settlement.v1.AuditService/GetStatementEvidence", LOG_READERS),
];

/// Services reachable without a token, so probes and stock clients work.
const OPEN_SERVICES: &[&str] =
    &["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// The roles allowed to call `path`, or `None` for a path without a rule.
#[must_use]
pub fn allowed_roles(path: &str) -> Option<&'static [RoleKind]> {
    RULES.iter().find(|(method, _)| *method == path).map(|(_, roles)| *roles)
}

/// How callers are identified.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// Bearer tokens, verified.
    Tokens(Authenticator),
    /// Off (an explicit setting): every call acts as the local admin.
    Disabled,
}

/// Decides, for one call, whether it may reach its handler, and as whom.
#[derive(Debug, Clone)]
pub struct Access {
    authentication: Arc<Authentication>,
}

impl Access {
    /// Access control with `authentication`.
    #[must_use]
    pub fn new(authentication: Authentication) -> Access {
        Access { authentication: Arc::new(authentication) }
    }

    /// The principal of a call to `path`, `None` for an open service, or the refusal.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for a refused token, `PERMISSION_DENIED` for a role the table does not
    /// allow (or a path without a rule).
    pub fn admit(&self, path: &str, authorization: Option<&[u8]>) -> Result<Option<Principal>, Status> {
        if OPEN_SERVICES.iter().any(|open| path.starts_with(open)) {
            return Ok(None);
        }
        let principal = match self.authentication.as_ref() {
            Authentication::Disabled => Principal::local_admin(),
            Authentication::Tokens(authenticator) => authenticator
                .authenticate(authorization)
                .map_err(|error: AuthError| Status::unauthenticated(error.to_string()))?,
        };
        let Some(roles) = allowed_roles(path) else {
            return Err(Status::permission_denied(format!("{path} has no access rule; nobody may call it")));
        };
        if !roles.contains(&RoleKind::of(&principal.role)) {
            return Err(Status::permission_denied(format!("the {} role may not call {path}", principal.role.as_str())));
        }
        Ok(Some(principal))
    }
}

/// The tower layer that applies [`Access`] to every call.
#[derive(Debug, Clone)]
pub struct AccessLayer {
    access: Access,
}

impl AccessLayer {
    /// A layer applying `access`.
    #[must_use]
    pub fn new(access: Access) -> AccessLayer {
        AccessLayer { access }
    }
}

impl<S> tower::Layer<S> for AccessLayer {
    type Service = AccessService<S>;

    fn layer(&self, inner: S) -> AccessService<S> {
        AccessService { inner, access: self.access.clone() }
    }
}

/// See [`AccessLayer`].
#[derive(Debug, Clone)]
pub struct AccessService<S> {
    inner: S,
    access: Access,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for AccessService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    RequestBody: Send + 'static,
    ResponseBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        let authorization = request.headers().get(http::header::AUTHORIZATION).map(http::HeaderValue::as_bytes);
        let role = match self.access.admit(request.uri().path(), authorization) {
            Ok(Some(principal)) => {
                let role = principal.role.label();
                request.extensions_mut().insert(principal);
                Some(role)
            }
            Ok(None) => None,
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        };
        // The clone that was made ready is the one to call (tower's readiness contract).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            // The caller's role on the call's span (tonic enters it around each poll); never
            // the subject, which can name a person.
            if let Some(role) = role {
                tracing::Span::current().record("flexsettle.role", role.as_str());
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::grpc::proto::FILE_DESCRIPTOR_SET;

    #[test]
    fn every_method_of_the_api_has_exactly_one_rule() {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let mut methods: Vec<String> = set
            .file
            .iter()
            .filter(|file| file.package() == "flextensie.settlement.v1")
            .flat_map(|file| {
                file.service.iter().flat_map(move |service| {
                    service
                        .method
                        .iter()
                        .map(move |method| format!("/{}.{}/{}", file.package(), service.name(), method.name()))
                })
            })
            .collect();
        let mut rules: Vec<String> = RULES.iter().map(|(path, _)| (*path).to_owned()).collect();
        methods.sort();
        rules.sort();
        assert_eq!(methods, rules, "add every new RPC to RULES, once");
    }

    #[test]
    fn health_and_reflection_need_no_token_and_everything_else_does() {
        let access = Access::new(Authentication::Tokens(Authenticator::new(
            crate::auth::TrustedKeys::default(),
            "issuer".to_owned(),
            "audience".to_owned(),
            0,
        )));
        assert_eq!(access.admit("/grpc.health.v1.Health/Check", None).unwrap(), None);
        assert_eq!(access.admit("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None).unwrap(), None);
        for (path, _) in RULES {
            assert_eq!(access.admit(path, None).unwrap_err().code(), tonic::Code::Unauthenticated, "{path}");
        }
    }

    #[test]
    fn a_path_without_a_rule_is_denied_even_to_the_admin() {
        let access = Access::new(Authentication::Disabled);
        let status = access.admit("/flextensie.settlement.v1.ContractService/DeleteEverything", None).unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(access.admit(RULES[0].0, None).unwrap().is_some());
    }
}
