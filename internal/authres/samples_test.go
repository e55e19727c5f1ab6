package authres

// Authentication-Results fields as real servers wrote them, copied from
// public mail archives and vendor documentation (folding kept as found;
// only the field name is cut off). Where each one comes from is said above
// it. Fields of one message are listed topmost first.

// Gmail (mx.google.com): a linux-mm@kvack.org list message of 12 Jun 2019
// from daniel.m.jordan@oracle.com, as archived by lore.kernel.org and
// mirrored in the linux-mailinglist-archives repositories on GitHub. Gmail
// writes header.i=@domain and no header.d.
const gmailOracle = `mx.google.com;
       dkim=pass header.i=@oracle.com header.s=corp-2018-07-02 header.b=lhk5qU4z;
       spf=pass (google.com: domain of daniel.m.jordan@oracle.com designates 156.151.31.86 as permitted sender) smtp.mailfrom=daniel.m.jordan@oracle.com;
       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=oracle.com`

// Gmail: linux-mm@kvack.org message of 24 Jun 2019 from
// songliubraving@fb.com (same archive): smtp.mailfrom is a quoted string.
const gmailFB = `mx.google.com;
       dkim=pass header.i=@fb.com header.s=facebook header.b=N5uvdv1C;
       spf=pass (google.com: domain of prvs=1078cbd532=songliubraving@fb.com designates 67.231.145.42 as permitted sender) smtp.mailfrom="prvs=1078cbd532=songliubraving@fb.com";
       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=fb.com`

// Gmail: linux-mm@kvack.org message of 19 Feb 2019 from stepan@pex.com
// (same archive): signed by the Google Workspace default domain only, so
// nothing aligns with pex.com.
const gmailPexFail = `mx.google.com;
       dkim=pass header.i=@pex-com.20150623.gappssmtp.com header.s=20150623 header.b=zwziYVWi;
       spf=softfail (google.com: domain of transitioning stepan@pex.com does not designate 209.85.220.65 as permitted sender) smtp.mailfrom=stepan@pex.com;
       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=pex.com`

// Microsoft 365: the example of the "Configure trusted ARC sealers" page
// of Microsoft's Defender for Office 365 documentation (MicrosoftDocs,
// defender-office-365/email-authentication-arc-configure.md). Microsoft
// writes no authserv-id, a bare action=none and compauth=... reason=...
// The page shows the continuation lines unindented; here they are indented
// as a folded header field has them.
const m365Docs = `spf=fail (sender IP is 10.10.10.10)
 smtp.mailfrom=contoso.com; dkim=fail (body hash did not verify)
 header.d=contoso.com;dmarc=fail action=none
 header.from=contoso.com;compauth=pass reason=130`

// Microsoft 365: a message of 7 Mar 2025 from amd.com on a kernel list
// (lore archive as above). The X-MS-Exchange-Authentication-Results field
// (same syntax as Exchange's Authentication-Results) and the
// ARC-Authentication-Results payload after "i=1;", which has an
// authserv-id and a version.
const (
	m365AMD    = "spf=pass (sender IP is 165.204.84.17)\n smtp.mailfrom=amd.com; dkim=none (message not signed)\n header.d=none;dmarc=pass action=none header.from=amd.com;"
	m365AMDArc = "mx.microsoft.com 1; spf=pass\n smtp.mailfrom=amd.com; dmarc=pass action=none header.from=amd.com; dkim=pass\n header.d=amd.com; arc=none"
)

// OpenDKIM, and an SPF milter, on lists.ozlabs.org: a message of 20 Oct
// 2021 from gmail.com to openbmc@lists.ozlabs.org (lore archive as above).
// OpenDKIM's comment holds a ';', and so does the SPF milter's.
const (
	openDKIMOzlabs = `lists.ozlabs.org;
	dkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com header.a=rsa-sha256 header.s=20210112 header.b=YiKy2Pd8;
	dkim-atps=neutral`
	spfMilterOzlabs = `lists.ozlabs.org; spf=pass (sender SPF authorized)
 smtp.mailfrom=gmail.com (client-ip=2607:f8b0:4864:20::22c;
 helo=mail-oi1-x22c.google.com; envelope-from=geissonator@gmail.com;
 receiver=<UNKNOWN>)`
)

// OpenDKIM with a failed signature: lists.ozlabs.org, 25 Jan 2023, a
// linuxppc-dev message from kernel.org (same archive): reason= is quoted.
const openDKIMFail = `lists.ozlabs.org;
	dkim=fail reason="signature verification failed" (2048-bit key; unprotected) header.d=kernel.org header.i=@kernel.org header.a=rsa-sha256 header.s=k20201202 header.b=VayjFvjT;
	dkim-atps=neutral`

// OpenDMARC above OpenDKIM, as two milters on one Postfix write them:
// lists.osmocom.org, 21 May 2020, a message from gmail.com (same archive).
// The third field was written by the same host on an earlier pass.
var openDMARCOsmocom = []string{
	"lists.osmocom.org; dmarc=pass (p=none dis=none) header.from=gmail.com",
	"lists.osmocom.org;\n\tdkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com header.b=uAJR7L9S",
	"lists.osmocom.org;\n dmarc=pass (p=none dis=none) header.from=gmail.com",
}

// OpenDKIM quoting header.b: gabe.freedesktop.org, 16 Apr 2024, a
// dri-devel message from kernel.org (same archive).
const openDKIMFreedesktop = `gabe.freedesktop.org;
	dkim=pass (2048-bit key; unprotected) header.d=kernel.org header.i=@kernel.org header.b="X/uVauMK";
	dkim-atps=neutral`

// rspamd on mail.lfdr.de: a linux-rdma message of 15 Jul 2026 from
// broadcom.com (same archive). The SPF comment holds a quoted address, the
// mailfrom is quoted, and the arc comment holds a quoted string.
const rspamdBroadcom = `mail.lfdr.de;
	dkim=pass header.d=broadcom.com header.s=google header.b=P2oVs5Ao;
	spf=pass (mail.lfdr.de: domain of "linux-rdma+bounces-23269-lists+linux-rdma=lfdr.de@vger.kernel.org" designates 2600:3c0a:e001:db::12fc:5321 as permitted sender) smtp.mailfrom="linux-rdma+bounces-23269-lists+linux-rdma=lfdr.de@vger.kernel.org";
	dmarc=pass (policy=reject) header.from=broadcom.com;
	arc=pass ("subspace.kernel.org:s=arc-20240116:i=1")`

// rspamd on lists.linaro.org: 27 Oct 2025, a linaro-mm-sig message from
// nvidia.com (same archive): header.d in mixed case, header.b quoted.
const rspamdNvidia = `lists.linaro.org;
	dkim=pass header.d=Nvidia.com header.s=selector2 header.b="ayc6GHG/";
	dmarc=pass (policy=reject) header.from=nvidia.com;
	arc=pass ("microsoft.com:s=arcselector10001:i=1");
	spf=pass (lists.linaro.org: domain of jgg@nvidia.com designates 40.93.196.59 as permitted sender) smtp.mailfrom=jgg@nvidia.com`

// rspamd's failed DMARC, in the shape rspamd's lualib/lua_auth_results.lua
// (rspamd/rspamd on GitHub) builds it: a quoted reason and a comment after
// the property.
const rspamdDMARCFail = `mx.example.com;
	dkim=fail header.d=example.com;
	dmarc=fail reason="No valid SPF, No valid DKIM" header.from=example.com (policy=reject)`
