<?php
// Managed by mailctl (cluster {{ cluster.name }}), checked with `php -l`.
// Filters and out-of-office replies are Sieve scripts on the user's mailbox host, reached
// through the Dovecot proxy on this host (ManageSieve, loopback).
$config['managesieve_host'] = 'localhost';
$config['managesieve_port'] = 4190;
$config['managesieve_usetls'] = false;
$config['managesieve_auth_type'] = 'PLAIN';
$config['managesieve_default'] = '';
$config['managesieve_script_name'] = 'roundcube';
$config['managesieve_vacation'] = 1;
$config['managesieve_forward'] = 0;
$config['managesieve_raw_editor'] = false;
$config['managesieve_replace_delimiter'] = '';
