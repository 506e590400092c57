# shellcheck shell=bash
# tools/meridian certs: a development CA, a server certificate, one client
# certificate per organisation, and negative test material (a rogue CA with a
# client signed by it, an expired client). All under $STATE/certs, never
# committed. EC P-256 keys; certificates issued with `openssl ca`.

CERTS_DIR="$STATE/certs"
ORGS_FILE="$ROOT/deploy/organisations.textproto"
CERT_SUBJECT_O="Meridian Dev"
# Names used by the fixed files: no organisation may use them as its id.
CERT_RESERVED_NAMES=" ca server rogue-ca rogue-client expired-client revoked-client audit-signing privacy-auditor "

# certs_organisations: print "<id> <TYPE>" for each `organisation { ... }`
# block of deploy/organisations.textproto (top-level blocks only; id and type
# must each be on their own line, as in the file's usual layout).
certs_organisations() {
  [[ -f $ORGS_FILE ]] || return 0
  awk '
    {
      line = $0
      code = line
      gsub(/"([^"\\]|\\.)*"/, "\"\"", code)   # blank quoted strings
      sub(/#.*/, "", code)                     # drop comments
      if (depth == 0 && code ~ /^[[:space:]]*organisation[[:space:]]*:?[[:space:]]*[{]/) {
        in_org = 1; id = ""; type = ""
      }
      if (in_org && depth == 1) {
        if (line ~ /^[[:space:]]*id[[:space:]]*:[[:space:]]*"/) {
          value = line
          sub(/^[[:space:]]*id[[:space:]]*:[[:space:]]*"/, "", value)
          sub(/".*$/, "", value)
          id = value
        }
        if (code ~ /^[[:space:]]*type[[:space:]]*:/) {
          value = code
          sub(/^[[:space:]]*type[[:space:]]*:[[:space:]]*/, "", value)
          sub(/[^A-Za-z0-9_].*$/, "", value)
          type = value
        }
      }
      opened = gsub(/[{]/, "{", code)
      closed = gsub(/[}]/, "}", code)
      depth += opened - closed
      if (in_org && depth == 0) {
        if (id != "") print id, type
        in_org = 0
      }
    }
  ' "$ORGS_FILE"
}

# certs_config FILE WORKDIR EXTENDED_KEY_USAGE SAN: write a minimal OpenSSL
# config for `openssl req` and `openssl ca` (independent of /etc/ssl/openssl.cnf).
# EXTENDED_KEY_USAGE empty means a CA certificate.
certs_config() {
  local file=$1 work=$2 eku=$3 san=$4
  {
    cat <<EOF
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ ca ]
default_ca = dev_ca
[ dev_ca ]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
default_md = sha256
policy = policy_any
preserve = yes
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
EOF
    if [[ -z $eku ]]; then
      cat <<EOF
[ ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    else
      cat <<EOF
[ ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $eku
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    fi
  } >"$file"
}

# certs_new_key NAME: a fresh EC P-256 private key in NAME.key (mode 600).
certs_new_key() {
  local key="$CERTS_DIR/$1.key"
  rm -f "$key"
  (umask 077 && quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key")
}

# certs_make_ca NAME SUBJECT: a self-signed CA, NAME.pem / NAME.key, 10 years.
certs_make_ca() {
  local name=$1 subject=$2 work="$CERTS_DIR/.work"
  log "certs: creating CA $name.pem ($subject)"
  certs_new_key "$name"
  certs_config "$work/$name.cnf" "$work" "" ""
  quiet openssl req -new -x509 -config "$work/$name.cnf" -extensions ext \
    -key "$CERTS_DIR/$name.key" -subj "$subject" -days 3650 -sha256 \
    -out "$CERTS_DIR/$name.pem"
}

# certs_make_leaf NAME SUBJECT EKU SAN CA [STARTDATE ENDDATE]: NAME.pem /
# NAME.key signed by CA.pem/CA.key; valid 825 days from now unless explicit
# dates (YYYYMMDDHHMMSSZ) are given.
certs_make_leaf() {
  local name=$1 subject=$2 eku=$3 san=$4 ca=$5 start=${6:-} end=${7:-}
  local work="$CERTS_DIR/.work" validity
  log "certs: creating $name.pem ($subject, $eku, $san, issuer $ca)"
  certs_new_key "$name"
  certs_config "$work/$name.cnf" "$work" "$eku" "$san"
  quiet openssl req -new -config "$work/$name.cnf" \
    -key "$CERTS_DIR/$name.key" -subj "$subject" -out "$work/$name.csr"
  if [[ -n $start ]]; then
    validity=(-startdate "$start" -enddate "$end")
  else
    validity=(-days 825)
  fi
  : >"$work/index.txt"
  openssl rand -hex 16 >"$work/serial"
  quiet openssl ca -batch -notext -config "$work/$name.cnf" \
    -extensions ext -cert "$CERTS_DIR/$ca.pem" -keyfile "$CERTS_DIR/$ca.key" \
    "${validity[@]}" -in "$work/$name.csr" -out "$CERTS_DIR/$name.pem"
}

# certs_make_crl NAME...: crl/ca.crl.pem, ca.pem's revocation list naming
# the certificates NAME.pem, valid 10 years, with the hashed link
# (<hash>.r0) by which the services find it (TLS_CRL_DIR).
certs_make_crl() {
  local work="$CERTS_DIR/.work/crl" name
  log "certs: creating crl/ca.crl.pem (revoking: $*)"
  rm -rf "$work" "$CERTS_DIR/crl"
  mkdir -p "$work" "$CERTS_DIR/crl"
  : >"$work/index.txt"
  echo 1000 >"$work/crlnumber"
  printf '%s\n' '[ ca ]' 'default_ca = dev_ca' '[ dev_ca ]' "database = $work/index.txt" \
    "crlnumber = $work/crlnumber" 'default_md = sha256' 'default_crl_days = 3650' \
    >"$work/ca.cnf"
  for name in "$@"; do
    quiet openssl ca -config "$work/ca.cnf" -cert "$CERTS_DIR/ca.pem" \
      -keyfile "$CERTS_DIR/ca.key" -revoke "$CERTS_DIR/$name.pem" -crl_reason keyCompromise
  done
  quiet openssl ca -config "$work/ca.cnf" -cert "$CERTS_DIR/ca.pem" -keyfile "$CERTS_DIR/ca.key" \
    -gencrl -out "$CERTS_DIR/crl/ca.crl.pem"
  quiet openssl rehash "$CERTS_DIR/crl"
}

# certs_missing NAME: true when NAME.pem or NAME.key is missing.
certs_missing() {
  [[ ! -s $CERTS_DIR/$1.pem || ! -s $CERTS_DIR/$1.key ]]
}

# certs_verify: check every certificate against its CA (the expired one with
# time checks off, and that it fails as expired); dies if anything is wrong.
certs_verify() {
  local leaves=("$CERTS_DIR/server.pem") id type out
  while read -r id type; do
    leaves+=("$CERTS_DIR/$id.pem")
  done < <(certs_organisations)
  quiet openssl verify -CAfile "$CERTS_DIR/ca.pem" "${leaves[@]}" ||
    die "certs: verification against ca.pem failed"
  if [[ -f $CERTS_DIR/rogue-client.pem ]]; then
    quiet openssl verify -CAfile "$CERTS_DIR/rogue-ca.pem" "$CERTS_DIR/rogue-client.pem" ||
      die "certs: rogue-client.pem does not verify against rogue-ca.pem"
    if openssl verify -CAfile "$CERTS_DIR/ca.pem" "$CERTS_DIR/rogue-client.pem" >/dev/null 2>&1; then
      die "certs: rogue-client.pem unexpectedly verifies against ca.pem"
    fi
  fi
  if [[ -f $CERTS_DIR/revoked-client.pem ]]; then
    quiet openssl verify -CAfile "$CERTS_DIR/ca.pem" "$CERTS_DIR/revoked-client.pem" ||
      die "certs: revoked-client.pem is not signed by ca.pem"
    out=$(openssl verify -crl_check -CAfile "$CERTS_DIR/ca.pem" \
      -CRLfile "$CERTS_DIR/crl/ca.crl.pem" "$CERTS_DIR/revoked-client.pem" 2>&1) || true
    [[ $out == *"certificate revoked"* ]] ||
      die "certs: revoked-client.pem is not revoked by crl/ca.crl.pem"
  fi
  if [[ -f $CERTS_DIR/expired-client.pem ]]; then
    quiet openssl verify -CAfile "$CERTS_DIR/ca.pem" -no_check_time "$CERTS_DIR/expired-client.pem" ||
      die "certs: expired-client.pem is not signed by ca.pem"
    out=$(openssl verify -CAfile "$CERTS_DIR/ca.pem" "$CERTS_DIR/expired-client.pem" 2>&1) || true
    [[ $out == *"certificate has expired"* ]] ||
      die "certs: expired-client.pem does not fail verification as expired"
  fi
}

# cmd_certs: create what is missing under $STATE/certs. Everything is
# recreated when ca.pem is missing or organisations.textproto is newer than the
# stamp of the last complete run.
cmd_certs() {
  local stamp="$CERTS_DIR/.stamp" id type first_id="" first_type="" orgs
  have openssl || die "openssl not found: run tools/meridian deps"
  mkdir -p "$CERTS_DIR"
  chmod 700 "$CERTS_DIR"

  orgs=$(certs_organisations)
  if [[ ! -f $ORGS_FILE ]]; then
    log "certs: warning: $ORGS_FILE does not exist: no client certificates"
  elif [[ -z $orgs ]]; then
    log "certs: warning: no organisation blocks in $ORGS_FILE: no client certificates"
  fi
  while read -r id type; do
    [[ -n $id ]] || continue
    [[ $id =~ ^[A-Za-z0-9._-]+$ ]] || die "certs: organisation id '$id' has characters other than A-Za-z0-9._-"
    [[ $CERT_RESERVED_NAMES != *" $id "* ]] || die "certs: organisation id '$id' clashes with a fixed certificate name"
  done <<<"$orgs"

  if [[ ! -s $CERTS_DIR/ca.pem || ! -s $CERTS_DIR/ca.key || $ORGS_FILE -nt $stamp ]]; then
    log "certs: (re)creating all certificates in $CERTS_DIR"
    # (The audit signing key stays: checkpoints signed with it must verify.)
    find "$CERTS_DIR" -maxdepth 1 \( -name '*.pem' -o -name '*.key' \) \
      ! -name audit-signing.key -delete
    rm -rf "$CERTS_DIR/crl"
    rm -f "$stamp"
  fi
  rm -rf "$CERTS_DIR/.work"
  mkdir -p "$CERTS_DIR/.work"

  if certs_missing ca; then
    certs_make_ca ca "/O=$CERT_SUBJECT_O/CN=Meridian Dev CA"
  fi
  # 10.231.0.1: the host's end of the fault suite's network namespace
  # (tests/fault, --faults network). A server certificate without it is
  # made again.
  if [[ -s $CERTS_DIR/server.pem ]] &&
    ! openssl x509 -in "$CERTS_DIR/server.pem" -noout -ext subjectAltName 2>/dev/null |
    grep -q "IP Address:10.231.0.1"; then
    rm -f "$CERTS_DIR/server.pem" "$CERTS_DIR/server.key"
  fi
  if certs_missing server; then
    certs_make_leaf server "/O=$CERT_SUBJECT_O/CN=localhost" serverAuth \
      "DNS:localhost, IP:127.0.0.1, IP:10.231.0.1" ca
  fi
  while read -r id type; do
    [[ -n $id ]] || continue
    if [[ -z $type ]]; then
      log "certs: warning: organisation $id has no type: using OU=UNSPECIFIED"
      type=UNSPECIFIED
    fi
    if [[ -z $first_id ]]; then
      first_id=$id
      first_type=$type
    fi
    if certs_missing "$id"; then
      certs_make_leaf "$id" "/O=$CERT_SUBJECT_O/OU=$type/CN=$id" clientAuth \
        "URI:meridian:org:$id" ca
    fi
  done <<<"$orgs"

  # The privacy auditor (tools/meridian privacy report) reads the
  # de-identified topic over Kafka's TLS listener; it is no organisation of
  # the directory, so it can call no service.
  if certs_missing privacy-auditor; then
    certs_make_leaf privacy-auditor "/O=$CERT_SUBJECT_O/CN=privacy-auditor" clientAuth \
      "URI:meridian:auditor:privacy" ca
  fi

  # Negative test material, impersonating the first organisation.
  if [[ -n $first_id ]]; then
    if certs_missing rogue-ca; then
      rm -f "$CERTS_DIR/rogue-client.pem" "$CERTS_DIR/rogue-client.key"
      certs_make_ca rogue-ca "/O=Rogue Dev/CN=Rogue Dev CA"
    fi
    if certs_missing rogue-client; then
      certs_make_leaf rogue-client "/O=$CERT_SUBJECT_O/OU=$first_type/CN=$first_id" clientAuth \
        "URI:meridian:org:$first_id" rogue-ca
    fi
    if certs_missing expired-client; then
      certs_make_leaf expired-client "/O=$CERT_SUBJECT_O/OU=$first_type/CN=$first_id" clientAuth \
        "URI:meridian:org:$first_id" ca 20200101000000Z 20200102000000Z
    fi
    # Valid, but revoked by the CA (a stolen laptop's): the CRL names it.
    if certs_missing revoked-client || [[ ! -s $CERTS_DIR/crl/ca.crl.pem ]]; then
      certs_make_leaf revoked-client "/O=$CERT_SUBJECT_O/OU=$first_type/CN=$first_id" clientAuth \
        "URI:meridian:org:$first_id" ca
      certs_make_crl revoked-client
    fi
  fi
  # The consent service signs audit-log checkpoints with this Ed25519 key;
  # auditors verify with the public half.
  # A missing public half is derived again: a new key would orphan every
  # signed checkpoint.
  if [[ ! -s $CERTS_DIR/audit-signing.key ]]; then
    (umask 077 && quiet openssl genpkey -algorithm ed25519 -out "$CERTS_DIR/audit-signing.key")
    rm -f "$CERTS_DIR/audit-signing.pub"
  fi
  if [[ ! -s $CERTS_DIR/audit-signing.pub ]]; then
    quiet openssl pkey -in "$CERTS_DIR/audit-signing.key" -pubout -out "$CERTS_DIR/audit-signing.pub"
  fi
  # The privacy guard's pseudonym key (libs/deid: "<key id> <hex secret>",
  # the active key first). Kept like the signing key: a new one would break
  # the linkage of everything already de-identified.
  if [[ ! -s $CERTS_DIR/deid-keys ]]; then
    (umask 077 && printf 'k1 %s\n' "$(openssl rand -hex 32)" >"$CERTS_DIR/deid-keys")
  fi
  rm -rf "$CERTS_DIR/.work"
  chmod 600 "$CERTS_DIR"/*.key

  certs_verify
  touch "$stamp"
  log "certs: ready in $CERTS_DIR"
}
