<?php
// Managed by mailctl (cluster {{ cluster.name }}), checked with `php -l`.
// Holds the key that encrypts IMAP passwords in sessions: mode 0640, group www-data.

$config = [];
{% if webmail_db %}
// One database for every webmail host (PostgreSQL on {{ webmail_db.server }}), so settings
// and contacts are the same whichever proxy serves a user; TLS checked against the cluster CA.
$config['db_dsnw'] = 'pgsql://roundcube:{{ webmail_db.password }}@{{ webmail_db.server }}/roundcube?sslmode=verify-full&sslrootcert=/etc/ssl/mailctl/ca.pem';
{% else %}
// The database Debian's dbconfig-common set up at install time (sets db_dsnw).
include('/etc/roundcube/debian-db-roundcube.php');
{% endif %}

// Logins go through the Dovecot proxy on this host, which sends each user to the mailbox
// host that holds their account (loopback: Dovecot counts it as secure, no TLS needed).
$config['imap_host'] = 'localhost:143';
$config['imap_conn_options'] = [];
$config['imap_cache'] = null;
$config['messages_cache'] = false;

// Mail leaves through submission on an MTA, as the user, with the user's own password.
$config['smtp_host'] = 'tls://{{ webmail.smtp_host }}:587';
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['smtp_conn_options'] = [
    'ssl' => [
        'verify_peer' => true,
        'verify_peer_name' => true,
        'peer_name' => '{{ webmail.smtp_host }}',
        'cafile' => '/etc/ssl/mailctl/ca.pem',
    ],
];

$config['des_key'] = '{{ webmail.des_key }}';
$config['product_name'] = '{{ cluster.public_name }}';
$config['support_url'] = '';
$config['skin'] = 'elastic';
$config['language'] = 'en_US';
$config['login_autocomplete'] = 2;
$config['session_lifetime'] = 30;
$config['ip_check'] = true;
$config['use_https'] = true;
$config['login_rate_limit'] = 3;
$config['enable_installer'] = false;
$config['log_driver'] = 'syslog';
$config['mail_domain'] = '%d';
$config['plugins'] = ['archive', 'zipdownload', 'managesieve'];
