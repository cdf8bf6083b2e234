-- Description: sign-in tables of the parents' portal on D1, in the shape a JavaScript auth library's D1 adapter writes (quoted camelCase names, `number` columns, NOT NULL DEFAULT NULL)
CREATE TABLE IF NOT EXISTS "portal_users" (
    "id" text NOT NULL DEFAULT '',
    "displayName" text DEFAULT NULL,
    "email" text DEFAULT NULL,
    "emailConfirmedAt" datetime DEFAULT NULL,
    "avatarUrl" text DEFAULT NULL,
    "failedLogins" number NOT NULL DEFAULT 0, 
    PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS "linked_logins" (
    "id" text NOT NULL,
    "portalUserId" text NOT NULL DEFAULT NULL,
    "kind" text NOT NULL DEFAULT NULL,
    "issuer" text NOT NULL DEFAULT NULL,
    "subjectAtIssuer" text NOT NULL DEFAULT NULL,
    "accessToken" text DEFAULT NULL,
    "renewToken" text DEFAULT NULL,
    "validUntil" number DEFAULT NULL,
    "grantedScopes" text DEFAULT NULL,
    "idToken" text DEFAULT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS "portal_sessions" (
    "id" text NOT NULL,
    "cookieValue" text NOT NULL,
    "portalUserId" text NOT NULL DEFAULT NULL,
    "lastSeen" number DEFAULT NULL,
    "expiresAt" datetime NOT NULL DEFAULT NULL, 
    PRIMARY KEY (cookieValue)
);
CREATE TABLE IF NOT EXISTS "one_time_codes" (
    "sentTo" text NOT NULL,
    "code" text NOT NULL DEFAULT NULL,
    "expiresAt" datetime NOT NULL DEFAULT NULL,
    PRIMARY KEY (sentTo, code)
);
