package pathfacts

import "strings"

// sensitiveKind names the kind of secret or system file a path is, or "".
// Matching is on the lower-cased path, since macOS and Windows file systems
// ignore case by default.
func sensitiveKind(p string) string {
	p = strings.ToLower(p)
	base := p[strings.LastIndexByte(p, '/')+1:]
	has := func(dir string) bool { return strings.Contains(p+"/", "/"+dir+"/") }
	under := func(prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

	switch {
	case has(".ssh") || under("/etc/ssh") || strings.HasPrefix(base, "id_rsa") || strings.HasPrefix(base, "id_dsa") ||
		strings.HasPrefix(base, "id_ecdsa") || strings.HasPrefix(base, "id_ed25519") || base == "authorized_keys":
		return "ssh"
	case base == ".env" || base == ".envrc" || (strings.HasPrefix(base, ".env.") &&
		!strings.HasSuffix(base, ".example") && !strings.HasSuffix(base, ".sample") && !strings.HasSuffix(base, ".template")):
		return "env"
	case has(".aws") || has(".config/gcloud") || has(".azure") || has(".oci") || has(".config/doctl") ||
		has(".aliyun") || has(".config/hcloud") || base == "application_default_credentials.json" ||
		base == ".boto" || base == ".s3cfg" || base == "credentials.tfrc.json" || base == ".terraformrc":
		return "cloud_credentials"
	case under("/etc/shadow") || under("/etc/gshadow") || base == "shadow-" || base == "gshadow-" ||
		under("/etc/master.passwd") || under("/etc/security/opasswd") || under("/etc/spwd.db"):
		return "shadow"
	case under("/etc/sudoers") || under("/etc/sudoers.d") || under("/etc/doas.conf"):
		return "sudoers"
	case under("/etc/passwd") || under("/etc/group"):
		return "passwd"
	case base == ".gitconfig" || base == ".git-credentials" || has(".config/git") ||
		strings.HasSuffix(p, "/.git/config") || strings.Contains(p, "/.git/hooks"):
		return "git_config"
	case has(".kube") || base == "kubeconfig" || under("/etc/kubernetes") || under("/var/run/secrets") || under("/run/secrets"):
		return "kube"
	case has(".docker") && base == "config.json", under("/var/run/docker.sock"), under("/run/docker.sock"):
		return "docker"
	case base == ".netrc" || base == "_netrc":
		return "netrc"
	case base == ".npmrc" || base == ".pypirc" || base == ".yarnrc" || base == ".yarnrc.yml" ||
		has(".gem") && base == "credentials" || has(".cargo") && strings.HasPrefix(base, "credentials"):
		return "package_registry"
	case base == ".pgpass" || base == ".my.cnf" || base == ".mylogin.cnf":
		return "db_credentials"
	case has(".gnupg") || has(".password-store") || has(".local/share/keyrings") || has("library/keychains") ||
		base == ".vault-token" || has(".config/gh"):
		return "keystore"
	case strings.HasSuffix(base, ".pem") || strings.HasSuffix(base, ".key") || strings.HasSuffix(base, ".p12") ||
		strings.HasSuffix(base, ".pfx") || strings.HasSuffix(base, ".jks") || strings.HasSuffix(base, ".keystore") ||
		strings.HasSuffix(base, ".ppk") || under("/etc/ssl/private"):
		return "private_key"
	case strings.HasSuffix(base, ".tfstate") || strings.HasSuffix(base, ".tfstate.backup"):
		return "terraform_state"
	case base == ".bash_history" || base == ".zsh_history" || base == ".python_history" || base == ".psql_history" ||
		base == ".mysql_history" || base == ".node_repl_history" || base == ".sh_history" || base == ".lesshst":
		return "history"
	case base == ".bashrc" || base == ".bash_profile" || base == ".bash_login" || base == ".bash_logout" ||
		base == ".profile" || base == ".zshrc" || base == ".zprofile" || base == ".zshenv" || base == ".zlogin" ||
		base == ".cshrc" || base == ".tcshrc" || has(".config/fish") || under("/etc/profile") ||
		under("/etc/profile.d") || under("/etc/bash.bashrc") || under("/etc/environment") || under("/etc/ld.so.preload"):
		return "shell_startup"
	case under("/etc/crontab") || under("/etc/cron.d") || under("/var/spool/cron") || under("/etc/systemd/system"):
		return "scheduler"
	case strings.HasPrefix(p, "/proc/") && (base == "environ" || base == "mem" || base == "maps" || base == "kcore" || base == "cmdline"):
		return "proc"
	case strings.HasPrefix(p, "/dev/") && (strings.HasPrefix(base, "sd") || strings.HasPrefix(base, "nvme") ||
		strings.HasPrefix(base, "hd") || strings.HasPrefix(base, "vd") || strings.HasPrefix(base, "xvd") ||
		base == "mem" || base == "kmem" || base == "port" || strings.HasPrefix(base, "mmcblk") || strings.HasPrefix(base, "disk")):
		return "device"
	}
	return ""
}
